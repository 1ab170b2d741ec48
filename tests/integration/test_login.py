"""POST /v1/auth/login against moto and the WeChat simulator."""

from __future__ import annotations

import json
import time

import pytest

from tests.support.values import APP_SECRET, APPID, OPENID, OTHER_APP_SECRET, OTHER_APPID, SESSION_KEY
from wxlogin.keys.tokens import hash_token, parse_token

LOGIN = "/v1/auth/login"


def _error(answer, status: int, code: str):
    assert answer.status == status, answer.body
    assert set(answer.body) == {"error"} and answer.body["error"]["code"] == code
    assert answer.body["error"]["message"]


def test_new_user_gets_a_token_and_only_its_hash_is_stored(api, aws, login):
    me = login()
    body = me.answer.body
    assert set(body) == {
        "token", "expiresIn", "openid", "unionid", "claimedUnionid", "isNewUser", "accessToken", "accessTokenExpiresIn"
    }  # fmt: skip
    assert 675 < body["accessTokenExpiresIn"] <= 900  # the session's token of the moment (keys/signing.py)
    assert body["openid"] == OPENID and body["unionid"] is None and body["isNewUser"] is True
    assert body["expiresIn"] == 7 * 24 * 3600
    assert me.answer.headers["Cache-Control"] == "no-store"
    items = aws.items()
    users = [i for i in items if i["sk"]["S"] == "USER"]
    sessions = aws.sessions()
    assert len(users) == 1 and len(sessions) == 1
    assert users[0]["openid"]["S"] == OPENID and users[0]["appid"]["S"] == APPID
    assert aws.session_key_of(users[0]) == SESSION_KEY  # kept server-side, sealed...
    assert SESSION_KEY not in json.dumps(body)  # ...never answered
    stored = json.dumps(items, default=str)
    assert me.token not in stored and me.token.split(".")[1] not in stored
    # The token names its session item; the item holds the token's hash only, under the user's generation.
    [session] = sessions
    assert session == aws.session_of(me.token)
    assert session["tokenHash"]["S"] == hash_token(me.token) and session["gen"] == users[0]["gen"]
    expires_at = int(session["expiresAt"]["N"])
    assert abs(expires_at - (time.time() + body["expiresIn"])) < 5
    # The user item lists it (where an operator and an erasure find it), in the login's own write.
    assert users[0]["sessions"] == {"M": {parse_token(me.token).session_id: {"N": str(expires_at)}}}


def test_second_login_is_the_same_user_with_the_new_session_key(api, aws, login):
    first = login()
    second = login(session_key="ZmZmZmZmZmZmZmZmZmZmZg==")
    assert second.answer.body["isNewUser"] is False
    assert second.answer.body["openid"] == first.answer.body["openid"]
    assert second.token != first.token
    users = [i for i in aws.items() if i["sk"]["S"] == "USER"]
    assert len(users) == 1 and aws.session_key_of(users[0]) == "ZmZmZmZmZmZmZmZmZmZmZg=="
    assert api.get("/v1/me", token=first.token).status == 200  # older sessions stay valid


def test_unionid_from_jscode2session_is_answered_and_kept(api, aws, login):
    me = login(unionid="oUnion123")
    assert me.answer.body["unionid"] == "oUnion123"
    again = login()  # WeChat leaves unionid out this time: the known one is kept
    assert again.answer.body["unionid"] == "oUnion123"
    assert api.get("/v1/me", token=again.token).body["unionid"] == "oUnion123"


def test_codes_minted_by_the_simulator_work(api, wechat):
    answer = api.post(LOGIN, {"code": wechat.login_code("bob")})
    assert answer.status == 200 and answer.body["openid"].startswith("o")


def test_unknown_code_is_invalid_code(api, aws):
    _error(api.post(LOGIN, {"code": "neverIssued"}), 401, "invalid_code")
    assert aws.items() == []


def test_used_code_is_invalid_code(api, aws, wechat):
    code = wechat.login_code()
    assert api.post(LOGIN, {"code": code}).status == 200
    before = aws.items()
    _error(api.post(LOGIN, {"code": code}), 401, "invalid_code")
    assert aws.items() == before


@pytest.mark.parametrize(
    "errcode, status, code",
    [
        (40029, 401, "invalid_code"),
        (40163, 401, "invalid_code"),
        (40226, 403, "user_blocked"),
        (45011, 429, "rate_limited"),
        (40013, 502, "wechat_error"),
        (99999, 502, "wechat_error"),
    ],
)
def test_wechat_errcodes_map_to_the_contract(api, aws, wechat, errcode, status, code):
    wechat.fault(count=1, errcode=errcode)
    _error(api.post(LOGIN, {"code": wechat.login_code()}), status, code)
    assert aws.items() == []
    assert wechat.stats()["jscode2session"] == 1  # never retried


def test_busy_is_retried_then_succeeds(api, wechat):
    wechat.fault(count=2, errcode=-1)
    assert api.post(LOGIN, {"code": wechat.login_code()}).status == 200
    assert wechat.stats()["jscode2session"] == 3


def test_busy_that_stays_busy_is_503_after_bounded_retries(api, aws, wechat):
    wechat.fault(count=10, errcode=-1)
    _error(api.post(LOGIN, {"code": wechat.login_code()}), 503, "wechat_unavailable")
    assert wechat.stats()["jscode2session"] == 3  # the first try and WECHAT_BUSY_RETRIES=2
    assert aws.items() == []


@pytest.mark.parametrize("fault", [{"mode": "hang", "seconds": 3}, {"mode": "drop"}, {"mode": "http500"}])
def test_transport_failures_are_503_and_not_retried(api, aws, wechat, fault):
    # The code may have been consumed: a read timeout or a reset is never retried.
    wechat.fault(count=1, **fault)
    _error(api.post(LOGIN, {"code": wechat.login_code()}), 503, "wechat_unavailable")
    assert wechat.stats()["jscode2session"] == 1
    assert aws.items() == []


def test_non_json_answer_is_wechat_error(api, aws, wechat):
    wechat.fault(count=1, mode="garbage")
    _error(api.post(LOGIN, {"code": wechat.login_code()}), 502, "wechat_error")
    assert aws.items() == []


def test_refused_connection_is_503(api, aws, login, monkeypatch):
    from wxlogin.wechat.client import WeChatClient

    module = api.module("LoginFunction", "functions/login")
    closed = WeChatClient("http://127.0.0.1:9", 0.2, 0.2, 1)  # nothing listens on the discard port
    monkeypatch.setattr(module.service, "wechat", closed)
    _error(api.post(LOGIN, {"code": "anyCode"}), 503, "wechat_unavailable")
    assert aws.items() == []


def test_invalid_appsecret_rereads_the_secret_once_then_502(api, aws, wechat):
    wechat.fault(count=5, errcode=40125)
    _error(api.post(LOGIN, {"code": wechat.login_code()}), 502, "wechat_error")
    assert wechat.stats()["jscode2session"] == 1  # the re-read found the same secret: no second call


def test_rotated_secret_takes_effect_at_once(api, aws, wechat):
    assert api.post(LOGIN, {"code": wechat.login_code()}).status == 200  # caches the old secret
    rotated = "99999999999999999999999999999999"
    wechat.set_app(APPID, rotated)
    aws.set_apps({APPID: rotated})
    answer = api.post(LOGIN, {"code": wechat.login_code()})
    assert answer.status == 200, answer.body


def test_appid_picks_among_several_apps(api, aws, wechat):
    aws.set_apps({APPID: APP_SECRET, OTHER_APPID: OTHER_APP_SECRET})
    wechat.set_app(OTHER_APPID, OTHER_APP_SECRET)
    _error(api.post(LOGIN, {"code": wechat.login_code()}), 400, "invalid_request")  # which app?
    one = api.post(LOGIN, {"code": wechat.login_code("carol"), "appid": APPID})
    other = api.post(LOGIN, {"code": wechat.login_code("carol", appid=OTHER_APPID), "appid": OTHER_APPID})
    assert one.status == other.status == 200
    assert one.body["openid"] != other.body["openid"]
    assert {i["appid"]["S"] for i in aws.items() if i["sk"]["S"] == "USER"} == {APPID, OTHER_APPID}


def test_unknown_appid_is_400(api, aws, wechat):
    _error(api.post(LOGIN, {"code": wechat.login_code(), "appid": "wxunknown"}), 400, "invalid_request")
    assert wechat.stats()["jscode2session"] == 0


@pytest.mark.parametrize(
    "body, headers",
    [
        ("{not json", None),
        ("[]", None),
        ('"code"', None),
        ("{}", None),
        ('{"code": 12345}', None),
        ('{"code": ""}', None),
        ('{"code": "has space"}', None),
        ('{"code": "' + "x" * 129 + '"}', None),
        ('{"code": "abc", "appid": "wx/../"}', None),
        ('{"code": "abc", "encryptedData": "AAAA"}', None),
        ('{"code": "abc"}', {"Content-Type": "text/plain"}),
        ('{"code": "abc", "pad": "' + "x" * 33 * 1024 + '"}', None),
        ('{"code": "abc"}', {"Idempotency-Key": "short"}),
        ('{"code": "abc"}', {"Idempotency-Key": "aaaaaaaaaaaaaaaa"}),
        (None, None),
    ],
)
def test_malformed_requests_are_400_and_store_nothing(api, aws, wechat, body, headers):
    headers = {"Content-Type": "application/json", **(headers or {})}
    _error(api.call("POST", LOGIN, body=body, headers=headers), 400, "invalid_request")
    assert aws.items() == []
    assert wechat.stats()["jscode2session"] == 0


def test_login_with_encrypted_profile_answers_and_stores_it(api, aws, wechat):
    # The one-round-trip flow: the data is encrypted with the session_key this very code yields.
    wechat.register("codeWithProfile", OPENID, SESSION_KEY)
    data = wechat.user_data(OPENID, session_key=SESSION_KEY, profile={"nickName": "Dave"})
    answer = api.post(LOGIN, {"code": "codeWithProfile", **data})
    assert answer.status == 200, answer.body
    assert answer.body["profile"]["nickName"] == "Dave"
    assert "watermark" not in json.dumps(answer.body)
    user = next(i for i in aws.items() if i["sk"]["S"] == "USER")
    assert user["nickName"]["S"] == "Dave"


def test_login_with_bad_encrypted_data_is_422_and_stores_nothing(api, aws, wechat):
    code = wechat.login_code("erin")
    data = {"encryptedData": "AAAAAAAAAAAAAAAAAAAAAA==", "iv": "AAAAAAAAAAAAAAAAAAAAAA=="}
    answer = api.post(LOGIN, {"code": code, **data})
    _error(answer, 422, "invalid_encrypted_data")
    assert aws.items() == []


def test_retried_login_with_the_same_key_gets_the_same_session(api, aws, wechat):
    code = wechat.login_code()
    key = {"Idempotency-Key": "6f1c1e0b-8f5e-4a8e-9a51-0d0f3c2a7b11"}
    first = api.post(LOGIN, {"code": code}, headers=key)
    again = api.post(LOGIN, {"code": code}, headers=key)
    assert first.status == again.status == 200
    # The same session, and so the session's access token of the moment (minted again, never one about to
    # expire: a late retry gets the slot's token then, keys/signing.py).
    fresh = ("accessTokenExpiresIn",)
    assert {k: v for k, v in again.body.items() if k not in fresh} == {
        k: v for k, v in first.body.items() if k not in fresh
    }
    assert api.get("/v1/me", token=again.body["token"]).status == 200
    # One item for the code: the session, which holds the sealed answer a retry opens.
    [record] = aws.sessions()
    assert record == aws.session_of(first.body["token"])
    assert {"sealed", "keyCheck", "kid", "retryUntil"} <= set(record)
    stored = json.dumps(record, default=str)
    token = first.body["token"]
    for secret in (code, token, token.split(".")[1], first.body["accessToken"], key["Idempotency-Key"]):
        assert secret not in stored
    calls = wechat.stats()["jscode2session"]
    _error(api.post(LOGIN, {"code": code}), 401, "invalid_code")
    other = {"Idempotency-Key": "5d0e1c9a7b3f48e2a6d4c8b0f1e3a5c7"}
    _error(api.post(LOGIN, {"code": code}, headers=other), 401, "invalid_code")
    assert wechat.stats()["jscode2session"] == calls + 1  # the plain one asks WeChat (used); the keyed one not
    assert aws.sessions() == [record]


def test_a_keyed_login_of_a_code_used_by_a_plain_login_is_invalid_code_at_once(api, aws, wechat):
    code = wechat.login_code()
    assert api.post(LOGIN, {"code": code}).status == 200
    before, calls = aws.items(), wechat.stats()["jscode2session"]
    key = {"Idempotency-Key": "6f1c1e0b-8f5e-4a8e-9a51-0d0f3c2a7b11"}
    _error(api.post(LOGIN, {"code": code}, headers=key), 401, "invalid_code")
    assert wechat.stats()["jscode2session"] == calls and aws.items() == before


def test_a_bug_is_500_without_details(api, aws, wechat, monkeypatch, logs):
    module = api.module("LoginFunction", "functions/login")

    class Broken:
        def login(self, _request, _deadline):
            raise RuntimeError("secret=" + APP_SECRET)

    monkeypatch.setattr(module, "service", Broken())
    answer = api.post(LOGIN, {"code": wechat.login_code()})
    _error(answer, 500, "internal_error")
    assert "RuntimeError" not in answer.text and APP_SECRET not in answer.text
    errors = logs.at_least(40)
    assert len(errors) == 1 and APP_SECRET not in errors[0] and "RuntimeError" in errors[0]
