"""LoginService alone: the code exchange, the user record, the replay of a lost login, the secret re-read."""

from __future__ import annotations

import pytest

from tests.support.values import APP_SECRET, APPID, OPENID, SESSION_KEY
from tests.unit.fakes import (
    DEADLINE,
    KEYS,
    NOW,
    WECHAT_PROFILE,
    Clock,
    SecretsProvider,
    Users,
    WeChat,
    live,
    payload,
    session,
)
from wxlogin.config import load_settings
from wxlogin.errors import InvalidCode, InvalidEncryptedData, RateLimited, UserBlocked, WeChatError, WxLoginError
from wxlogin.keys.appsecrets import AppSecrets
from wxlogin.keys.tokens import parse_token, user_id_for
from wxlogin.records import replace
from wxlogin.services.login import LoginService
from wxlogin.storage.users import user_pk
from wxlogin.web.route_requests import LoginRequest
from wxlogin.wechat.errors import WeChatErrcode

KEY = "f3a9c0d27b5e4e18a6c1d09b8e7f2a41"  # 128 bits in hex, as the shipped client sends
OTHER_KEY = "0b8e7f2a41f3a9c0d27b5e4e18a6c1d9"


def service(wechat: WeChat, users: Users | None = None, secret=f'{{"{APPID}": "{APP_SECRET}"}}', clock=None, **env):
    clock = clock or Clock()
    apps = AppSecrets("apps", 300, provider=SecretsProvider(secret))
    settings = load_settings(env)
    users = users or Users()
    return LoginService(settings, users, users, apps, wechat, KEYS, clock=clock, sleep=clock.sleep)


def test_a_first_login_makes_the_user_and_a_session_the_token_opens_with_two_writes_and_no_read():
    users = Users()
    answer = (
        service(WeChat(sessions=[session(unionid="oUnion")]), users).login(LoginRequest(code="c1"), DEADLINE).answer
    )
    assert answer["isNewUser"] and answer["openid"] == OPENID and answer["unionid"] == "oUnion"
    assert "profile" not in answer and answer["expiresIn"] == 7 * 24 * 3600
    ref = parse_token(answer["token"])
    stored = users.users[user_id_for(APPID, OPENID)]
    assert users.sessions == {ref: live(NOW + 7 * 24 * 3600, stored.generation)}
    assert SESSION_KEY.encode() not in stored.sealed_session_key
    sealed = stored.sealed_session_key
    assert KEYS.open_text("session_key", user_pk(stored.user_id), stored.generation, sealed) == SESSION_KEY
    assert users.calls == ["record_login", "put_session"]


def test_a_second_login_keeps_the_known_unionid_and_profile():
    users = Users()
    data = {"openId": OPENID, **WECHAT_PROFILE, "nickName": "Ann", "watermark": {"appid": APPID, "timestamp": int(NOW)}}
    first = (
        service(WeChat(sessions=[session()]), users)
        .login(LoginRequest(code="c1", encrypted=payload(data)), DEADLINE)
        .answer
    )
    assert first["profile"] == {"nickName": "Ann", "gender": 0}
    again = service(WeChat(sessions=[session()]), users).login(LoginRequest(code="c2"), DEADLINE).answer
    assert not again["isNewUser"] and users.users[user_id_for(APPID, OPENID)].profile == first["profile"]


def test_login_data_from_another_session_is_refused_and_nothing_is_stored():
    users = Users()
    data = {"openId": OPENID, "watermark": {"appid": APPID, "timestamp": int(NOW)}}
    stale = payload(data, session_key="ZmZmZmZmZmZmZmZmZmZmZg==")
    with pytest.raises(InvalidEncryptedData):
        service(WeChat(sessions=[session()]), users).login(LoginRequest(code="c1", encrypted=stale), DEADLINE)
    assert users.users == {} and users.sessions == {}


@pytest.mark.parametrize(
    "errcode, error",
    [(40029, InvalidCode), (40163, InvalidCode), (40226, UserBlocked), (45011, RateLimited), (40013, WeChatError)],
)
def test_wechat_refusals_are_the_contracts_errors_and_store_nothing(errcode, error):
    users = Users()
    with pytest.raises(error):
        service(WeChat(sessions=[errcode]), users).login(LoginRequest(code="c1"), DEADLINE)
    assert users.users == {} and users.logins == 0


def test_a_retried_login_gets_the_same_answer_back():
    users, clock = Users(), Clock()
    wechat = WeChat(sessions=[session()])
    first = service(wechat, users, clock=clock).login(LoginRequest(code="c1", idempotency_key=KEY), DEADLINE)
    retried = service(wechat, users, clock=clock).login(LoginRequest(code="c1", idempotency_key=KEY), DEADLINE)
    assert retried.replayed and retried.answer == first.answer
    assert users.logins == 1 and wechat.count("code_to_session") == 1
    # The replay names the same account for its access token as the first answer did.
    assert retried.subject == first.subject == users.users[user_id_for(APPID, OPENID)].sub
    first = first.answer
    (record,) = users.retries.values()
    assert record.state == "done" and first["token"].encode() not in record.sealed


def test_a_retry_with_another_key_or_none_is_invalid_code():
    users = Users()
    service(WeChat(sessions=[session()]), users).login(LoginRequest(code="c1", idempotency_key=KEY), DEADLINE)
    for other in (OTHER_KEY, None):
        with pytest.raises(InvalidCode):
            service(WeChat(sessions=[40163]), users).login(LoginRequest(code="c1", idempotency_key=other), DEADLINE)


def test_a_used_code_with_a_random_key_is_invalid_code_at_once():
    """No wait: neither when a keyed login of the code is done, nor when the code was used without a key."""
    users, clock = Users(), Clock()
    keyed = WeChat(sessions=[session()])
    service(keyed, users, clock=clock).login(LoginRequest(code="keyed", idempotency_key=KEY), DEADLINE)
    plain = WeChat(sessions=[session(), 40163])
    service(plain, users, clock=clock).login(LoginRequest(code="plain"), DEADLINE)
    for code in ("keyed", "plain"):
        with pytest.raises(InvalidCode):
            service(plain, users, clock=clock).login(LoginRequest(code=code, idempotency_key=OTHER_KEY), DEADLINE)
    assert clock.slept == [] and keyed.count("code_to_session") == 1
    # The marker the refused login put says so: its own retry is answered at once too.
    assert sorted(record.state for record in users.retries.values()) == ["done", "failed"]


class Finishing(Clock):
    """A clock whose third sleep lets the login in flight finish: its record is then written."""

    def __init__(self, users: Users, record_id: str, done):
        super().__init__()
        self.users, self.record_id, self.done = users, record_id, done

    def sleep(self, seconds):
        super().sleep(seconds)
        if len(self.slept) == 3:
            self.users.retries[self.record_id] = self.done


def _in_flight(users: Users) -> tuple[str, object, dict]:
    """A keyed login that finished, its record turned back to what it was while it ran."""
    answer = (
        service(WeChat(sessions=[session()]), users)
        .login(LoginRequest(code="c1", idempotency_key=KEY), DEADLINE)
        .answer
    )
    ((record_id, done),) = users.retries.items()
    users.retries[record_id] = replace(done, state="pending", sealed=None, deadline=NOW + 1.0)
    return record_id, done, answer


def test_a_retry_of_a_login_in_flight_waits_for_it_and_gets_its_answer():
    users = Users()
    record_id, done, answer = _in_flight(users)
    clock = Finishing(users, record_id, done)
    retried = service(WeChat(), users, clock=clock).login(LoginRequest(code="c1", idempotency_key=KEY), DEADLINE).answer
    assert retried == answer and len(clock.slept) == 3


def test_a_retry_never_waits_past_the_deadline_of_the_login_it_waits_for():
    users = Users()
    _in_flight(users)
    clock = Clock()
    with pytest.raises(InvalidCode):
        service(WeChat(), users, clock=clock).login(LoginRequest(code="c1", idempotency_key=KEY), DEADLINE)
    assert sum(clock.slept) == pytest.approx(1.0)


def test_a_retry_of_a_login_whose_session_was_revoked_gets_no_token():
    users = Users()
    answer = (
        service(WeChat(sessions=[session()]), users)
        .login(LoginRequest(code="c1", idempotency_key=KEY), DEADLINE)
        .answer
    )
    users.sessions.pop(parse_token(answer["token"]))  # logged out since
    with pytest.raises(InvalidCode):
        service(WeChat(), users).login(LoginRequest(code="c1", idempotency_key=KEY), DEADLINE)


def test_junk_codes_never_cost_a_valid_code_its_login_and_each_refusal_is_counted_without_a_write():
    """No limit by address: every code goes to WeChat, whatever was sent before it from anywhere."""
    users, refused = Users(), []
    wechat = WeChat(sessions=[40029, 40163] * 50 + [session()])
    login = service(wechat, users)
    login.on_refused_code = lambda: refused.append(1)
    for _ in range(100):
        with pytest.raises(InvalidCode):
            login.login(LoginRequest(code="junk"), DEADLINE)
    assert len(refused) == 100 and users.calls == []  # WeChat's refusal costs no DynamoDB request
    assert login.login(LoginRequest(code="good"), DEADLINE).answer["isNewUser"]
    assert wechat.count("code_to_session") == 101 and len(refused) == 100


@pytest.mark.parametrize("errcode", [45011, 40226, 40013, -1])
def test_only_codes_wechat_refuses_are_counted_as_refused(errcode):
    refused = []
    login = service(WeChat(sessions=[errcode] * 5), Users())
    login.on_refused_code = lambda: refused.append(1)
    with pytest.raises(WxLoginError):
        login.login(LoginRequest(code="c1"), DEADLINE)
    assert refused == []


def test_a_rotated_secret_is_read_afresh_once():
    apps = SecretsProvider(f'{{"{APPID}": "old"}}')
    wechat = WeChat(sessions=[WeChatErrcode.INVALID_APPSECRET, session()])
    app_secrets = AppSecrets("apps", 300, provider=apps)
    app_secrets.resolve_appid(None)  # "old" is cached, then rotated in Secrets Manager
    apps.value = f'{{"{APPID}": "new"}}'
    users = Users()
    login = LoginService(load_settings({}), users, users, app_secrets, wechat, KEYS)
    assert login.login(LoginRequest(code="c1"), DEADLINE).answer["isNewUser"]
    assert [call[2] for call in wechat.calls] == ["old", "new"] and apps.fetches == 2


def test_an_appsecret_wechat_refuses_twice_is_wechat_error():
    wechat = WeChat(sessions=[40125])
    with pytest.raises(WeChatError):
        service(wechat).login(LoginRequest(code="c1"), DEADLINE)
    assert wechat.count("code_to_session") == 1  # the re-read found the same secret: no second call
