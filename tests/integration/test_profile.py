"""POST /v1/profile/decrypt: strict decryption, identity checks, and what is kept."""

from __future__ import annotations

import base64
import json

import pytest

from tests.support.values import APPID, OPENID, SESSION_KEY

DECRYPT = "/v1/profile/decrypt"


def _error(answer, status: int, code: str):
    assert answer.status == status, answer.body
    assert answer.body["error"]["code"] == code


def _user(aws) -> dict:
    return next(i for i in aws.items() if i["sk"]["S"] == "USER")


def test_profile_is_decrypted_stored_and_answered(api, aws, wechat, login):
    me = login()
    data = wechat.user_data(OPENID, profile={"nickName": "Ann", "city": "Shenzhen"})
    answer = api.post(DECRYPT, data, token=me.token)
    assert answer.status == 200, answer.body
    assert set(answer.body) == {"profile", "unionid", "claimedUnionid"}
    assert answer.body["profile"]["nickName"] == "Ann" and answer.body["profile"]["city"] == "Shenzhen"
    assert set(answer.body["profile"]) <= {"nickName", "avatarUrl", "gender", "country", "province", "city", "language"}
    assert "watermark" not in answer.text and "openId" not in answer.text
    assert _user(aws)["nickName"]["S"] == "Ann"
    assert api.get("/v1/me", token=me.token).body["profile"]["nickName"] == "Ann"


def test_a_unionid_only_decrypted_data_names_is_a_claim_until_jscode2session_confirms_it(api, aws, wechat, login):
    me = login()
    assert me.answer.body["unionid"] is None and me.answer.body["claimedUnionid"] is None
    data = wechat.user_data(OPENID, unionid="oUnionLater")
    answer = api.post(DECRYPT, data, token=me.token)
    assert answer.status == 200 and (answer.body["unionid"], answer.body["claimedUnionid"]) == (None, "oUnionLater")
    assert "unionid" not in _user(aws) and _user(aws)["claimedUnionid"]["S"] == "oUnionLater"
    view = api.get("/v1/me", token=me.token).body
    assert (view["unionid"], view["claimedUnionid"]) == (None, "oUnionLater")
    # jscode2session names it: now WeChat vouches for it, and the claim is settled.
    again = login(unionid="oUnionLater")
    assert (again.answer.body["unionid"], again.answer.body["claimedUnionid"]) == ("oUnionLater", None)
    assert _user(aws)["unionid"]["S"] == "oUnionLater" and "claimedUnionid" not in _user(aws)


def test_a_disagreeing_unionid_is_rejected(api, aws, wechat, login):
    me = login(unionid="oUnionA")
    answer = api.post(DECRYPT, wechat.user_data(OPENID, unionid="oUnionB"), token=me.token)
    _error(answer, 422, "invalid_encrypted_data")
    assert _user(aws)["unionid"]["S"] == "oUnionA"


def test_data_of_another_openid_is_rejected(api, aws, wechat, login):
    me = login()
    login(openid="oOtherUser0000000000000000000")
    # Data for the other user, encrypted with OUR session key: decrypts, but names someone else.
    data = wechat.user_data("oOtherUser0000000000000000000", session_key=SESSION_KEY)
    _error(api.post(DECRYPT, data, token=me.token), 422, "invalid_encrypted_data")
    assert "nickName" not in _user_by_openid(aws, OPENID)


def _user_by_openid(aws, openid):
    return next(i for i in aws.items() if i["sk"]["S"] == "USER" and i["openid"]["S"] == openid)


def test_iv_rewrite_of_the_openid_is_rejected(api, aws, wechat, login):
    me = login()
    data = wechat.user_data(OPENID)
    plain_first_block = b'{"openId":"' + OPENID[:5].encode()
    forged = b'{"openId":"EVIL1'
    iv = base64.b64decode(data["iv"])
    data["iv"] = base64.b64encode(
        bytes(a ^ b ^ c for a, b, c in zip(iv, plain_first_block, forged, strict=True))
    ).decode()
    data.pop("rawData"), data.pop("signature")
    _error(api.post(DECRYPT, data, token=me.token), 422, "invalid_encrypted_data")


def test_data_from_two_logins_ago_is_stale(api, wechat, login):
    me = login()
    data = wechat.user_data(OPENID)
    login(session_key="ZmZmZmZmZmZmZmZmZmZmZg==")  # wx.login again: a new session_key (the old one kept a while)
    again = login(session_key="MDEyMzQ1Njc4OWFiY2RlZg==")  # and again: the data's key is kept no more
    _error(api.post(DECRYPT, data, token=again.token), 422, "invalid_encrypted_data")
    _error(api.post(DECRYPT, data, token=me.token), 422, "invalid_encrypted_data")


def test_watermark_of_another_app_is_rejected(api, aws, wechat, login):
    me = login()
    data = wechat.user_data(OPENID, watermark_appid="wxsomeoneelse0000")
    _error(api.post(DECRYPT, data, token=me.token), 422, "invalid_encrypted_data")


def test_stale_watermark_is_rejected_and_zero_disables_the_check(api, wechat, login, monkeypatch):
    me = login()
    old = wechat.user_data(OPENID, timestamp=1_600_000_000)
    _error(api.post(DECRYPT, old, token=me.token), 422, "invalid_encrypted_data")
    service = api.module("ProfileFunction", "functions/profile").service
    monkeypatch.setattr(service, "watermark_max_age_seconds", 0)
    assert api.post(DECRYPT, old, token=me.token).status == 200


def test_future_watermark_is_rejected(api, wechat, login):
    import time

    me = login()
    data = wechat.user_data(OPENID, timestamp=int(time.time()) + 3600)
    _error(api.post(DECRYPT, data, token=me.token), 422, "invalid_encrypted_data")


def test_bad_signature_is_rejected(api, aws, wechat, login):
    me = login()
    data = wechat.user_data(OPENID, profile={"nickName": "Ann"})
    data["signature"] = "0" * 40
    _error(api.post(DECRYPT, data, token=me.token), 422, "invalid_encrypted_data")
    tampered = wechat.user_data(OPENID, profile={"nickName": "Ann"})
    tampered["rawData"] = tampered["rawData"].replace("Ann", "Bob")
    _error(api.post(DECRYPT, tampered, token=me.token), 422, "invalid_encrypted_data")
    assert "nickName" not in _user(aws)


def _flip(b64: str, index: int) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("where", [-1, -17, 20])
def test_tampered_ciphertext_gets_one_identical_answer(api, aws, wechat, login, where):
    me = login()
    data = wechat.user_data(OPENID)
    data["encryptedData"] = _flip(data["encryptedData"], where)
    data.pop("rawData"), data.pop("signature")
    answer = api.post(DECRYPT, data, token=me.token)
    _error(answer, 422, "invalid_encrypted_data")
    reference = api.post(DECRYPT, {**data, "encryptedData": _flip(data["encryptedData"], 0)}, token=me.token)
    assert answer.body == reference.body  # no padding oracle: every key-dependent failure reads the same


@pytest.mark.parametrize(
    "change",
    [
        {"iv": "AAAAAAAAAAAAAAAAAAAA"},  # 15 bytes
        {"iv": base64.b64encode(bytes(17)).decode()},
        {"iv": "not base64!"},
        {"encryptedData": "not base64!"},
        {"encryptedData": "AAAA AAAA"},
        {"encryptedData": "-_-_"},  # URL-safe alphabet
        {"encryptedData": base64.b64encode(bytes(17)).decode()},  # not whole blocks
        {"encryptedData": ""},
        {"encryptedData": 123},
        {"iv": None},
        {"encryptedData": base64.b64encode(bytes(32 * 1024)).decode()},  # body over 32 KiB
        {"signature": None},  # rawData without signature
    ],
)
def test_malformed_encrypted_fields_are_400_and_change_nothing(api, aws, wechat, login, change):
    me = login()
    before = aws.items()
    data = {**wechat.user_data(OPENID), **change}
    data = {k: v for k, v in data.items() if v is not None}
    _error(api.post(DECRYPT, data, token=me.token), 400, "invalid_request")
    assert aws.items() == before


def test_decrypt_needs_a_valid_token(api, wechat, login):
    login()
    data = wechat.user_data(OPENID)
    _error(api.post(DECRYPT, data), 401, "unauthorized")
    _error(api.post(DECRYPT, data, token="A" * 22 + "." + "B" * 43), 401, "unauthorized")
    _error(api.post(DECRYPT, data, headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401, "unauthorized")


def test_answers_never_hold_the_session_key(api, wechat, login):
    me = login()
    answer = api.post(DECRYPT, wechat.user_data(OPENID), token=me.token)
    assert SESSION_KEY not in answer.text and json.loads(answer.text)
    assert APPID not in answer.text  # the watermark is not echoed
