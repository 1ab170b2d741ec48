"""The previous session_key's grace window and WeChat's checksession, alone: which key opens, what is answered."""

from __future__ import annotations

import pytest

from tests.support.values import APP_SECRET, APPID, OPENID, SESSION_KEY
from tests.unit.fakes import (
    DEADLINE,
    KEYS,
    NOW,
    WECHAT_PROFILE,
    AccessTokenTable,
    Clock,
    SecretsProvider,
    Users,
    WeChat,
    live,
    payload,
    session,
)
from wxlogin.config import load_settings
from wxlogin.errors import InvalidEncryptedData, ServiceUnavailable, SessionKeyExpired
from wxlogin.keys.appsecrets import AppSecrets
from wxlogin.keys.tokens import TokenRef, parse_token, user_id_for
from wxlogin.services.login import LoginService
from wxlogin.services.profile import ProfileService
from wxlogin.services.session_keys import SessionKeyCheck, StoredSessionKeys
from wxlogin.web.route_requests import DecryptRequest, LoginRequest
from wxlogin.wechat.access_token import AccessTokens
from wxlogin.wechat.errors import WeChatApiError

NEW_KEY = "ZmZmZmZmZmZmZmZmZmZmZg=="
THIRD_KEY = "MDEyMzQ1Njc4OWFiY2RlZg=="
USER_ID = user_id_for(APPID, OPENID)


def _profile(nickname: str, timestamp: float = NOW) -> dict:
    return {
        "openId": OPENID,
        **WECHAT_PROFILE,
        "nickName": nickname,
        "watermark": {"appid": APPID, "timestamp": int(timestamp)},
    }


class World:
    """One user who logged in twice (SESSION_KEY, then NEW_KEY), with the session of the second login."""

    def __init__(self, clock: Clock | None = None, key_checks=(), interval: int = 300, **env):
        self.clock = clock or Clock()
        self.users = Users()
        self.wechat = WeChat(sessions=[session(), session(session_key=NEW_KEY)], key_checks=key_checks)
        apps = AppSecrets("apps", 300, provider=SecretsProvider(f'{{"{APPID}": "{APP_SECRET}"}}'))
        login = LoginService(load_settings(env), self.users, apps, self.wechat, KEYS, clock=self.clock)
        login.login(LoginRequest(code="c1"), DEADLINE)
        self.clock.now += 30
        self.ref = parse_token(login.login(LoginRequest(code="c2"), DEADLINE).answer["token"])
        tokens = AccessTokens(AccessTokenTable("token", int(NOW) + 7200), self.wechat, apps, clock=self.clock)
        self.check = SessionKeyCheck(self.users, tokens, self.wechat, interval)
        self.keys = StoredSessionKeys(KEYS, self.check, clock=self.clock)

    @property
    def user(self):
        return self.users.users[USER_ID]

    def decrypt(self, session_key: str, nickname: str = "Ann", ref: TokenRef | None = None) -> dict:
        service = ProfileService(self.users, self.keys, 300, clock=self.clock)
        request = DecryptRequest(payload(_profile(nickname, self.clock.now), session_key=session_key))
        return service.decrypt_profile(self.user, ref or self.ref, request, DEADLINE)


def test_a_login_keeps_the_key_it_replaces_sealed_as_the_current_one_until_the_grace_ends():
    world = World()
    assert world.user.previous_session_key_until == int(NOW) + 30 + 300
    assert (
        KEYS.open_text("session_key", f"USER#{USER_ID}", world.user.generation, world.user.sealed_previous_session_key)
        == SESSION_KEY
    )
    assert SESSION_KEY.encode() not in world.user.sealed_previous_session_key
    assert "sealed_previous_session_key" not in repr(world.user)


def test_data_encrypted_under_the_replaced_key_opens_within_the_window_and_not_after():
    world = World(key_checks=[None])
    assert world.decrypt(SESSION_KEY)["profile"]["nickName"] == "Ann"  # the classic failure, now served
    assert world.decrypt(NEW_KEY, "Bo")["profile"]["nickName"] == "Bo"
    world.clock.now = world.user.previous_session_key_until
    with pytest.raises(InvalidEncryptedData):
        world.decrypt(SESSION_KEY, "Eve")
    assert world.user.profile["nickName"] == "Bo"
    assert world.wechat.count("check_session_key") == 1  # WeChat: the current key is still valid


def test_the_grace_setting_zero_keeps_no_previous_key():
    world = World(key_checks=[None], SESSION_KEY_GRACE_SECONDS="0")
    assert world.user.sealed_previous_session_key is None and world.user.previous_session_key_until is None
    with pytest.raises(InvalidEncryptedData):
        world.decrypt(SESSION_KEY)


def test_the_grace_is_bounded_by_the_watermark_age():
    assert load_settings({"SESSION_KEY_GRACE_SECONDS": "3600"}).session_key_grace_seconds == 300
    assert load_settings({"WATERMARK_MAX_AGE_SECONDS": "60"}).session_key_grace_seconds == 60
    assert (
        load_settings({"WATERMARK_MAX_AGE_SECONDS": "0", "SESSION_KEY_GRACE_SECONDS": "900"}).session_key_grace_seconds
        == 900
    )


def test_a_key_wechat_says_is_stale_answers_session_key_expired_once_per_session_per_interval():
    world = World(key_checks=[WeChatApiError(87009), WeChatApiError(87009)])
    with pytest.raises(SessionKeyExpired):
        world.decrypt(THIRD_KEY)  # data under a key from a wx.login the server never saw
    call = next(c for c in world.wechat.calls if c[0] == "check_session_key")
    assert call == ("check_session_key", "token", OPENID, NEW_KEY)  # the stored current key, never the data
    for _ in range(5):  # junk within the interval: no WeChat call, today's 422
        with pytest.raises(InvalidEncryptedData):
            world.decrypt(THIRD_KEY)
    assert world.wechat.count("check_session_key") == 1
    world.clock.now += 300
    with pytest.raises(SessionKeyExpired):
        world.decrypt(THIRD_KEY)
    assert world.wechat.count("check_session_key") == 2


def test_every_failure_reads_the_same_whichever_check_refused_it():
    world = World(key_checks=[None], clock=Clock())
    forged = _profile("Eve") | {"openId": "oSomeoneElse"}
    refusals = []
    for request in (
        DecryptRequest(payload(forged, session_key=NEW_KEY)),  # opens under the current key, names another user
        DecryptRequest(payload(forged, session_key=SESSION_KEY)),  # under the previous one
        DecryptRequest(payload(_profile("Eve", 0), session_key=SESSION_KEY)),  # stale watermark
        DecryptRequest(payload(_profile("Eve"), session_key=THIRD_KEY)),  # no stored key
    ):
        with pytest.raises(InvalidEncryptedData) as refused:
            ProfileService(world.users, world.keys, 300, clock=world.clock).decrypt_profile(
                world.user, world.ref, request, DEADLINE
            )
        refusals.append((refused.value.status, refused.value.to_body()))
    assert len(set(map(repr, refusals))) == 1
    assert world.user.profile is None


@pytest.mark.parametrize(
    "failure", [WeChatApiError(-1), WeChatApiError(48001), ServiceUnavailable()], ids=["busy", "no-permission", "ddb"]
)
def test_when_wechat_cannot_be_asked_the_answer_is_the_422(failure):
    world = World(key_checks=[failure])
    with pytest.raises(InvalidEncryptedData):
        world.decrypt(THIRD_KEY)


def test_the_interval_zero_never_asks_wechat():
    world = World(interval=0)
    with pytest.raises(InvalidEncryptedData):
        world.decrypt(THIRD_KEY)
    assert world.wechat.count("check_session_key") == 0 and "claim_key_check" not in world.users.calls


def test_a_session_of_another_generation_or_gone_may_not_ask():
    world = World()
    gone = TokenRef(USER_ID, "no-such-session", "no-such-session-id")
    with pytest.raises(InvalidEncryptedData):
        world.decrypt(THIRD_KEY, ref=gone)
    world.users.sessions[world.ref] = live(NOW + 3600, generation="gen-of-an-erased-user")
    with pytest.raises(InvalidEncryptedData):
        world.decrypt(THIRD_KEY)
    assert world.wechat.count("check_session_key") == 0


def test_the_current_key_is_tried_first_then_the_previous_one():
    world = World(key_checks=[None])
    tried = []

    def refuse(identity):
        tried.append(identity)
        raise InvalidEncryptedData()

    with pytest.raises(InvalidEncryptedData):
        world.keys.open(world.user, world.ref, refuse, DEADLINE)
    # The same identity (appid, openid, unionid) with either key: every check runs as it does for one key.
    assert [identity.session_key for identity in tried] == [NEW_KEY, SESSION_KEY]
    assert {(i.appid, i.openid, i.unionid) for i in tried} == {(APPID, OPENID, None)}
