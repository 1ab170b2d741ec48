"""LoginService alone: the code exchange, the user record, the replay of a lost login, the secret re-read."""

from __future__ import annotations

import pytest

from tests.support.values import APP_SECRET, APPID, OPENID, SESSION_KEY
from tests.unit.fakes import NOW, Clock, SecretsProvider, Users, WeChat, payload, session
from wxlogin.appsecrets import AppSecrets
from wxlogin.config import load_settings
from wxlogin.errors import InvalidCode, InvalidEncryptedData, RateLimited, UserBlocked, WeChatError
from wxlogin.login import LoginService
from wxlogin.route_requests import LoginRequest
from wxlogin.tokens import parse_token, user_id_for
from wxlogin.wechat_errors import WeChatErrcode

KEY = "idempotency-key-0001"


def service(wechat: WeChat, users: Users | None = None, secret=f'{{"{APPID}": "{APP_SECRET}"}}', clock=None):
    clock = clock or Clock()
    apps = AppSecrets("apps", 300, provider=SecretsProvider(secret))
    return LoginService(load_settings({}), users or Users(), apps, wechat, clock=clock, sleep=clock.sleep)


def test_a_first_login_makes_the_user_and_a_session_the_token_opens():
    users = Users()
    answer = service(WeChat(sessions=[session(unionid="oUnion")]), users).login(LoginRequest(code="c1"))
    assert answer["isNewUser"] and answer["openid"] == OPENID and answer["unionid"] == "oUnion"
    assert "profile" not in answer and answer["expiresIn"] == 7 * 24 * 3600
    ref = parse_token(answer["token"])
    assert users.sessions == {ref: int(NOW) + 7 * 24 * 3600}
    assert users.users[user_id_for(APPID, OPENID)].session_key == SESSION_KEY


def test_a_second_login_keeps_the_known_unionid_and_profile():
    users = Users()
    data = {"openId": OPENID, "nickName": "Ann", "watermark": {"appid": APPID, "timestamp": int(NOW)}}
    first = service(WeChat(sessions=[session()]), users).login(LoginRequest(code="c1", encrypted=payload(data)))
    assert first["profile"] == {"nickName": "Ann"}
    again = service(WeChat(sessions=[session()]), users).login(LoginRequest(code="c2"))
    assert not again["isNewUser"] and users.users[user_id_for(APPID, OPENID)].profile == {"nickName": "Ann"}


def test_login_data_from_another_session_is_refused_and_nothing_is_stored():
    users = Users()
    data = {"openId": OPENID, "watermark": {"appid": APPID, "timestamp": int(NOW)}}
    stale = payload(data, session_key="ZmZmZmZmZmZmZmZmZmZmZg==")
    with pytest.raises(InvalidEncryptedData):
        service(WeChat(sessions=[session()]), users).login(LoginRequest(code="c1", encrypted=stale))
    assert users.users == {} and users.sessions == {}


@pytest.mark.parametrize(
    "errcode, error",
    [(40029, InvalidCode), (40163, InvalidCode), (40226, UserBlocked), (45011, RateLimited), (40013, WeChatError)],
)
def test_wechat_refusals_are_the_contracts_errors_and_store_nothing(errcode, error):
    users = Users()
    with pytest.raises(error):
        service(WeChat(sessions=[errcode]), users).login(LoginRequest(code="c1"))
    assert users.users == {} and users.logins == 0


def test_a_retried_login_gets_the_same_answer_back():
    users, clock = Users(), Clock()
    wechat = WeChat(sessions=[session(), WeChatErrcode.CODE_USED])
    first = service(wechat, users, clock=clock).login(LoginRequest(code="c1", idempotency_key=KEY))
    retried = service(wechat, users, clock=clock).login(LoginRequest(code="c1", idempotency_key=KEY))
    assert retried == first and users.logins == 1


def test_a_retry_with_another_key_or_none_is_invalid_code():
    users = Users()
    service(WeChat(sessions=[session()]), users).login(LoginRequest(code="c1", idempotency_key=KEY))
    for other in ("another-key-000000000", None):
        with pytest.raises(InvalidCode):
            service(WeChat(sessions=[40163]), users).login(LoginRequest(code="c1", idempotency_key=other))


def test_a_retry_waits_briefly_for_the_first_login_then_gives_up():
    clock = Clock()
    with pytest.raises(InvalidCode):
        service(WeChat(sessions=[40163]), clock=clock).login(LoginRequest(code="c1", idempotency_key=KEY))
    assert 2.0 <= sum(clock.slept) <= 2.2


def test_a_rotated_secret_is_read_afresh_once():
    apps = SecretsProvider(f'{{"{APPID}": "old"}}')
    wechat = WeChat(sessions=[WeChatErrcode.INVALID_APPSECRET, session()])
    app_secrets = AppSecrets("apps", 300, provider=apps)
    app_secrets.resolve_appid(None)  # "old" is cached, then rotated in Secrets Manager
    apps.value = f'{{"{APPID}": "new"}}'
    login = LoginService(load_settings({}), Users(), app_secrets, wechat)
    assert login.login(LoginRequest(code="c1"))["isNewUser"]
    assert [call[2] for call in wechat.calls] == ["old", "new"] and apps.fetches == 2


def test_an_appsecret_wechat_refuses_twice_is_wechat_error():
    wechat = WeChat(sessions=[40125])
    with pytest.raises(WeChatError):
        service(wechat).login(LoginRequest(code="c1"))
    assert wechat.count("code_to_session") == 1  # the re-read found the same secret: no second call
