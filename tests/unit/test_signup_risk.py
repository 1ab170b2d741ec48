"""WeChat's risk rank at sign-up, alone: asked once for a new user, stored, limits sign-ups, never fails a login."""

from __future__ import annotations

import pytest

from tests.support.values import APP_SECRET, APPID, OPENID
from tests.unit.fakes import DEADLINE, KEYS, NOW, AccessTokenTable, Clock, SecretsProvider, Users, WeChat, session
from wxlogin.config import load_settings
from wxlogin.errors import ServiceUnavailable, SignUpRefused
from wxlogin.keys.appsecrets import AppSecrets
from wxlogin.keys.tokens import user_id_for
from wxlogin.services.account import me_view
from wxlogin.services.login import LoginService
from wxlogin.services.signup_risk import SignUpRisk
from wxlogin.web.route_requests import LoginRequest
from wxlogin.wechat.access_token import AccessTokens
from wxlogin.wechat.errors import WeChatApiError

CLIENT_IP = "203.0.113.7"
USER_ID = user_id_for(APPID, OPENID)


def service(wechat: WeChat, users: Users, max_rank: int = 4, ranked: bool = True) -> LoginService:
    clock = Clock()
    apps = AppSecrets("apps", 300, provider=SecretsProvider(f'{{"{APPID}": "{APP_SECRET}"}}'))
    tokens = AccessTokens(AccessTokenTable("token", int(NOW) + 7200), wechat, apps, clock=clock, sleep=clock.sleep)
    risk = SignUpRisk(users, tokens, wechat, max_rank) if ranked else None
    return LoginService(load_settings({}), users, apps, wechat, KEYS, clock=clock, sleep=clock.sleep, risk=risk)


def login(wechat: WeChat, users: Users, client_ip: str | None = CLIENT_IP, code: str = "c1", **options) -> dict:
    return service(wechat, users, **options).login(LoginRequest(code=code, client_ip=client_ip), DEADLINE).answer


def test_a_new_user_is_ranked_once_and_the_rank_is_kept_and_shown():
    users, wechat = Users(), WeChat(sessions=[session(), session()], risk_ranks=[2])
    assert login(wechat, users)["isNewUser"]
    assert wechat.calls[1] == ("user_risk_rank", "token", APPID, OPENID, CLIENT_IP, 0)  # scene 0: sign-up
    assert users.users[USER_ID].risk_rank == 2
    assert me_view(users.users[USER_ID])["riskRank"] == 2
    assert users.calls == ["is_known", "record_login", "put_session"]  # the rank rides in the login's own write

    login(wechat, users, code="c2")  # a known user: one read, no WeChat call, the rank stays
    assert wechat.count("user_risk_rank") == 1 and users.users[USER_ID].risk_rank == 2


def test_a_sign_up_ranked_above_the_limit_is_refused_and_nothing_is_stored():
    users, wechat = Users(), WeChat(sessions=[session()], risk_ranks=[4])
    with pytest.raises(SignUpRefused) as refused:
        login(wechat, users, max_rank=3)
    assert (refused.value.status, refused.value.code) == (403, "signup_refused")
    assert "4" not in refused.value.message  # the rank itself is not told
    assert users.users == {} and users.sessions == {}


@pytest.mark.parametrize(
    "failure",
    [WeChatApiError(61010), WeChatApiError(48001), WeChatApiError(-1), ServiceUnavailable()],
    ids=["not-seen-recently", "no-permission", "busy", "unavailable"],
)
def test_a_wechat_failure_never_fails_the_login_and_leaves_the_user_unranked(failure):
    users, wechat = Users(), WeChat(sessions=[session()], risk_ranks=[failure])
    assert login(wechat, users, max_rank=0)["isNewUser"]
    assert users.users[USER_ID].risk_rank is None and me_view(users.users[USER_ID])["riskRank"] is None


def test_without_a_client_address_wechat_is_not_asked():
    users, wechat = Users(), WeChat(sessions=[session()])
    login(wechat, users, client_ip=None)
    assert wechat.count("user_risk_rank") == 0 and users.users[USER_ID].risk_rank is None


def test_off_by_default_a_login_reads_nothing_and_asks_wechat_nothing_more():
    users, wechat = Users(), WeChat(sessions=[session()])
    login(wechat, users, ranked=False)
    assert users.calls == ["record_login", "put_session"] and wechat.count("user_risk_rank") == 0
    assert SignUpRisk.from_settings(load_settings({}), users, wechat, None, KEYS) is None
    settings = load_settings({"SIGNUP_RISK_CHECK": "true", "SIGNUP_MAX_RISK_RANK": "2"})
    assert SignUpRisk.from_settings(settings, users, wechat, None, KEYS).max_rank == 2
