"""Forged encrypted user data, made as an attacker makes it, against every route that decrypts.

AES-CBC has no integrity. A client knows the plaintext of its own data, so it can rewrite the first block
through the iv (new iv = iv XOR known block XOR chosen block), and drop leading blocks so that any later
block comes first (new iv = the previous ciphertext block XOR known block XOR chosen block). Every forgery
here goes to login (with encryptedData), POST /v1/profile/decrypt and POST /v1/profile/phone (legacy), and
must get either the one 422 with nothing stored changed, or exactly what the genuine payload holds.

Each test runs twice: with the payloads' key as the user's current session_key, and as the previous one (a
later login replaced it, and its grace window keeps it): the second key must give a forger nothing the first
does not. The login route opens data with the key it has just received only, so it always plays the first.
WeChat's checksession stays in place throughout, and the simulator says the current key is valid, so every
refusal is the one 422.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.cbc_forgery import Genuine, opened
from tests.support.values import BOOKKEEPING, OPENID, SESSION_KEY
from wxlogin.models import PHONE_FIELDS, PROFILE_FIELDS

LOGIN, DECRYPT, PHONE = "/v1/auth/login", "/v1/profile/decrypt", "/v1/profile/phone"
ROUTES = (LOGIN, DECRYPT, PHONE)
UNIONID = "oUnionGenuine000000000000000"
REFUSED = {
    "error": {
        "code": "invalid_encrypted_data",
        "message": "The encrypted data does not match this session; log in again and fetch the data anew.",
    }
}
KEPT = (*PROFILE_FIELDS, *PHONE_FIELDS, "unionid", "claimedUnionid")
# One key of each kind of check, for the search through the routes.
ROUTE_KEYS = ("openId", "nickName", "gender", "phoneNumber", "watermark")


def _expected(genuine: Genuine, route: str) -> dict | None:
    """The stored fields a route may keep from a payload (None: the route takes no data of this kind)."""
    content = genuine.content
    if "openId" in content and route in (LOGIN, DECRYPT):
        kept = {name: content[name] for name in PROFILE_FIELDS if content.get(name, "") != ""}
        # The user has no unionid from jscode2session: a decrypted unionId is kept as a claim.
        return kept | ({"claimedUnionid": content["unionId"]} if "unionId" in content else {})
    if "phoneNumber" in content and route == PHONE:
        return {name: content[name] for name in PHONE_FIELDS}
    return None


# The session_key of a later login, in the "previous key" runs: the payloads' key is then the one it replaced.
LATER_KEY = "ZmZmZmZmZmZmZmZmZmZmZg=="


def _without_bookkeeping(items: list[dict]) -> list[dict]:
    return [
        {name: value for name, value in item.items() if name != BOOKKEEPING}
        for item in items
        if not item["pk"]["S"].startswith("APP#")
    ]


class Target:
    """One user, logged in without a unionid, with no profile, phone or unionid stored before each attempt.

    A refused attempt must leave the table as it was; one that is kept is checked, then blanked again.
    `previous_key`: the payloads' key (SESSION_KEY) is the user's previous session_key, not the current one."""

    def __init__(self, api, aws, wechat, login, previous_key: bool):
        self.api, self.aws, self.wechat = api, aws, wechat
        self.login, self.previous_key = login, previous_key
        self.token = login().token
        self.codes = iter(range(1_000_000))
        self.key = {name: self.user()[name] for name in ("pk", "sk")}
        self._replace_key()

    def _replace_key(self) -> None:
        if self.previous_key:
            self.token = self.login(session_key=LATER_KEY).token
        self.table = _without_bookkeeping(self.aws.items())

    def _after_login_route(self, kept: bool) -> None:
        """A login attempt made SESSION_KEY current at WeChat's, and (when its data was kept) at ours."""
        if not self.previous_key:
            return
        if kept:
            self._replace_key()
            return
        # Ours still holds LATER_KEY, then SESSION_KEY: only WeChat needs LATER_KEY back (another wx.login).
        self.wechat.wx_login_unseen(OPENID, LATER_KEY)

    def user(self) -> dict:
        return next(item for item in self.aws.items() if item["sk"]["S"] == "USER")

    def kept(self) -> dict:
        user = self.user()
        return {name: int(attr["N"]) if "N" in attr else attr["S"] for name, attr in user.items() if name in KEPT}

    def _blank(self) -> None:
        names = {f"#k{i}": name for i, name in enumerate(KEPT)}
        self.aws.dynamodb.update_item(
            TableName=self.aws.table,
            Key=self.key,
            UpdateExpression="REMOVE " + ", ".join(names),
            ExpressionAttributeNames=names,
        )
        self.table = _without_bookkeeping(self.aws.items())

    def send(self, route: str, forged: dict):
        if route == LOGIN:
            code = f"forged{next(self.codes)}"
            self.wechat.register(code, OPENID, SESSION_KEY)
            return self.api.post(LOGIN, {"code": code, **forged})
        return self.api.post(route, forged, token=self.token)

    def attempt(self, route: str, forged: dict, genuine: Genuine) -> int:
        """Send one forgery; it is refused with the one 422 and changes nothing, or keeps exactly the genuine data."""
        answer = self.send(route, forged)
        if answer.status == 422:
            assert answer.body == REFUSED
            assert _without_bookkeeping(self.aws.items()) == self.table
            if route == LOGIN:
                self._after_login_route(kept=False)
            return 422
        expected = _expected(genuine, route)
        assert answer.status == 200 and expected is not None, (route, answer.status, answer.body)
        assert self.kept() == expected
        if route == PHONE:
            assert answer.body == expected
        else:
            profile = {name: value for name, value in expected.items() if name in PROFILE_FIELDS} or None
            shown = {"profile": answer.body["profile"], "claimedUnionid": answer.body["claimedUnionid"]}
            assert shown == {"profile": profile, "claimedUnionid": expected.get("claimedUnionid")}
            assert answer.body["unionid"] is None
        self._blank()
        if route == LOGIN:
            self._after_login_route(kept=True)
        return 200


@pytest.fixture(params=["current key", "previous key"])
def target(request, api, aws, wechat, login) -> Target:
    return Target(api, aws, wechat, login, previous_key=request.param == "previous key")


def _aligned_nickname(wechat, tail: str) -> str:
    """A nickname ending in `tail`, padded so that `tail` starts exactly at a ciphertext block."""
    probe = _profile(wechat, profile={"nickName": "probe"})
    offset = probe.padded.index(b'"nickName":"probe"') + len('"nickName":"')
    return "n" * (-offset % 16) + tail


def _profile(wechat, **extra) -> Genuine:
    return Genuine.of(wechat.user_data(OPENID, session_key=SESSION_KEY, **extra), SESSION_KEY)


def _phone(wechat, phone: str = "13800138000") -> Genuine:
    return Genuine.of(wechat.user_data(OPENID, session_key=SESSION_KEY, kind="phone", phone=phone), SESSION_KEY)


# ---------------------------------------------------------------------------------------------- the attacks


def test_profile_data_with_a_chosen_nickname_block_binds_no_phone(target, wechat):
    genuine = _profile(wechat, profile={"nickName": _aligned_nickname(wechat, "13912345678")})
    start, chosen = genuine.start_of("13912345678") - 1, b'{"phoneNumber":"'
    assert opened(genuine.forged_plaintext(start, chosen))["phoneNumber"] == "13912345678"
    assert target.attempt(PHONE, genuine.forge(start, chosen), genuine) == 422
    assert "phoneNumber" not in target.user()


def test_profile_data_cut_inside_the_openid_binds_no_phone(target, wechat):
    genuine = _profile(wechat)
    forged = genuine.forge(1, b'{"phoneNumber":"')  # the number would be the openid's tail
    assert target.attempt(PHONE, forged, genuine) == 422


@pytest.mark.parametrize("chosen", [b'{"avatarUrl":"//', b'{"gender":"XXXXX'])
@pytest.mark.parametrize("route", [DECRYPT, LOGIN])
def test_phone_data_is_not_taken_as_a_profile(target, wechat, route, chosen):
    genuine = _phone(wechat)
    assert target.attempt(route, genuine.forge(0, chosen), genuine) == 422


@pytest.mark.parametrize("route", ROUTES)
def test_a_lone_surrogate_planted_through_the_iv_is_422_not_500(target, wechat, route):
    genuine = _phone(wechat)
    forged = genuine.forge(0, b'{"city":"\\ud800x')
    assert opened(genuine.forged_plaintext(0, b'{"city":"\\ud800x'))["city"][0] == "\ud800"
    assert target.attempt(route, forged, genuine) == 422


@pytest.mark.parametrize("route", [DECRYPT, LOGIN])
def test_renaming_the_openid_through_the_iv_skips_no_identity_check(target, wechat, route):
    # Another user's profile under this session's key, so only the openId check can refuse it.
    other = "oOtherUser00000000000000000X"
    genuine = Genuine.of(wechat.user_data(other, session_key=SESSION_KEY, profile={"nickName": "Mallory"}), SESSION_KEY)
    chosen = b'{"openIe":"' + other[:5].encode()
    assert genuine.block(0) == b'{"openId":"' + other[:5].encode()
    assert target.attempt(route, genuine.forge(0, chosen), genuine) == 422
    assert "nickName" not in target.user()


def test_a_nickname_ending_in_the_openid_cannot_stand_in_for_it(target, wechat):
    """Cut where the nickname holds the openid's tail: `{"openId":"oGZUI` + tail names the user, minus a nickName."""
    genuine = _profile(wechat, profile={"nickName": _aligned_nickname(wechat, OPENID[5:])})
    start = genuine.start_of(OPENID[5:] + '"') - 1
    chosen = b'{"openId":"' + OPENID[:5].encode()
    assert opened(genuine.forged_plaintext(start, chosen))["openId"] == OPENID
    for route in (DECRYPT, LOGIN):
        assert target.attempt(route, genuine.forge(start, chosen), genuine) == 422


# ---------------------------------------------------------------------------------------------- every start block


def test_every_start_block_is_refused_or_the_genuine_data(target, wechat):
    """Genuine payloads of each kind cut at every block, with chosen blocks naming one key of each kind of
    check (tests/unit/test_userdata.py tries every key on the openers), sent to every route.

    Forgeries that do not even parse as a JSON object are left out: no attacker sends them, and the JSON
    parser refuses them (the property below sends them too)."""
    short_avatar = {"avatarUrl": "https://thirdwx.qlogo.cn/a/132"}
    payloads = [
        _profile(wechat, unionid=UNIONID),
        _profile(wechat, profile={**short_avatar, "nickName": _aligned_nickname(wechat, "13912345678")}),
        _phone(wechat),
        _phone(wechat, "+852 61234567"),
    ]
    refused, kept = 0, []
    for genuine in payloads:
        for route in ROUTES:
            if _expected(genuine, route):
                assert target.attempt(route, genuine.data, genuine) == 200, route
        for start, chosen in genuine.forgeries(ROUTE_KEYS):
            for route in ROUTES:
                if target.attempt(route, genuine.forge(start, chosen), genuine) == 422:
                    refused += 1
                else:
                    kept.append(chosen == genuine.block(start) and start == 0)
    # What was kept (with exactly the genuine content, as attempt checks) is the unchanged payload, re-sent.
    assert refused > 300 and kept == [True] * 6, (refused, kept)


# ---------------------------------------------------------------------------------------------- the property

nicknames = st.one_of(
    st.text(st.sampled_from('ab微信1234567890"\\{}:, -+'), min_size=1, max_size=40).filter(str.strip),
    st.sampled_from(["13912345678", OPENID[5:], '","openId":"' + OPENID, "+86 13912345678"]),
)
phones = st.one_of(
    st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    st.tuples(st.sampled_from(["852", "1", "44", "886"]), st.from_regex(r"[1-9][0-9]{6,10}", fullmatch=True)).map(
        lambda parts: f"+{parts[0]} {parts[1]}"
    ),
)
json_bytes = st.binary(min_size=16, max_size=16) | st.text(
    st.sampled_from('{}[]":, 0123456789-+.eE\\uNaopdIhPbrmCtyngwk'), min_size=16, max_size=16
).map(str.encode)


@st.composite
def forgeries(draw, wechat):
    if draw(st.booleans()):
        nickname = draw(nicknames)
        if draw(st.booleans()):
            nickname = _aligned_nickname(wechat, nickname)
        extra = {"unionid": UNIONID} if draw(st.booleans()) else {}
        genuine = _profile(wechat, profile={"nickName": nickname}, **extra)
    else:
        genuine = _phone(wechat, draw(phones))
    start = draw(st.integers(0, genuine.blocks - 1))
    chosen = draw(st.one_of(st.sampled_from(sorted(genuine.candidates(start, fills=(b" ", b"1")))), json_bytes))
    forged = genuine.forge(start, chosen)
    if "rawData" in genuine.data and draw(st.booleans()):
        # rawData/signature are signed apart from the ciphertext, so a forger can send the genuine pair along.
        forged |= {"rawData": genuine.data["rawData"], "signature": genuine.data["signature"]}
    return genuine, forged


def test_any_forgery_is_refused_or_holds_exactly_the_genuine_data(target, wechat):
    @settings(max_examples=150)
    @given(st.data())
    def forgery_to_every_route(data):
        genuine, forged = data.draw(forgeries(wechat))
        for route in ROUTES:
            target.attempt(route, forged, genuine)

    forgery_to_every_route()
