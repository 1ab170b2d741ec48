"""Each route's typed request, built from an API Gateway event: one rule per field, bad input is 400."""

from __future__ import annotations

import json

import pytest

from local.wechat_simulator import encrypt_user_data
from tests.support.values import SESSION_KEY
from wxlogin.errors import InvalidRequest
from wxlogin.web.route_requests import LoginRequest, MeRequest, PhoneRequest, UpdateMeRequest

ENCRYPTED, IV = encrypt_user_data(SESSION_KEY, {"openId": "o"})


def event(body=None, headers=None, query=None) -> dict:
    return {
        "headers": {"content-type": "application/json", **(headers or {})},
        "body": None if body is None else json.dumps(body),
        "queryStringParameters": query,
    }


KEY = "f3a9c0d27b5e4e18a6c1d09b8e7f2a41"


def test_a_login_request_holds_every_field_checked():
    login_event = event({"code": "c1", "appid": "wx1", "encryptedData": ENCRYPTED, "iv": IV}, {"idempotency-key": KEY})
    request = LoginRequest.from_event(login_event)
    assert (request.code, request.appid, request.idempotency_key) == ("c1", "wx1", KEY)
    assert len(request.encrypted.iv) == 16
    assert "c1" not in repr(request) and KEY not in repr(request)


@pytest.mark.parametrize(
    "key",
    [
        KEY,  # 32 hex digits: the shipped client's 128 random bits
        "6f1c1e0b-8f5e-4a8e-9a51-0d0f3c2a7b11",  # a UUID
        "Xq3_vR8-kLm2Np7sTu4wYz",  # 22 base64url characters: 132 bits
    ],
)
def test_an_idempotency_key_of_128_random_bits_is_taken(key):
    assert LoginRequest.from_event(event({"code": "c1"}, {"idempotency-key": key})).idempotency_key == key


@pytest.mark.parametrize(
    "key",
    [
        "short",
        "aaaaaaaaaaaaaaaa",  # guessed in the wild, accepted before: 16 characters
        "a" * 64,  # long but one character
        "retry-key-0000000001",  # 20 characters: the old tests' keys
        "abcdabcdabcdabcdabcdabcdabcdabcd",  # 32 hex digits, 4 distinct: no random value
        "0123456789abcdef0123456789abcd",  # 30 hex digits: 120 bits
        "Xq3_vR8-kLm2Np7sTu4wY",  # 21 base64url characters
        "abababababababababababababab",  # 2 distinct characters
        "k" * 129,
        "key with spaces 0123456789",
    ],
)
def test_an_idempotency_key_of_fewer_than_128_random_bits_is_invalid_request(key):
    with pytest.raises(InvalidRequest):
        LoginRequest.from_event(event({"code": "c1"}, {"idempotency-key": key}))


@pytest.mark.parametrize(
    "body, headers",
    [
        ({}, None),
        ({"code": "x" * 129}, None),
        ({"code": "a b"}, None),
        ({"code": "c1", "appid": "wx/1"}, None),
        ({"code": "c1", "iv": IV}, None),
        ({"code": "c1"}, {"idempotency-key": "short"}),
    ],
)
def test_a_bad_login_request_is_invalid_request(body, headers):
    with pytest.raises(InvalidRequest):
        LoginRequest.from_event(event(body, headers))


def test_a_phone_request_is_a_code_or_encrypted_data_never_both():
    assert PhoneRequest.from_event(event({"code": "pc"})).code == "pc"
    assert PhoneRequest.from_event(event({"encryptedData": ENCRYPTED, "iv": IV})).code is None
    for body in ({"code": "pc", "encryptedData": ENCRYPTED, "iv": IV}, {}, {"code": None}):
        with pytest.raises(InvalidRequest):
            PhoneRequest.from_event(event(body))


def test_include_may_only_ask_for_linked_apps():
    assert not MeRequest.from_event(event(query=None)).include_linked_apps
    assert MeRequest.from_event(event(query={"include": "linkedApps"})).include_linked_apps
    with pytest.raises(InvalidRequest):
        MeRequest.from_event(event(query={"include": "everything"}))


@pytest.mark.parametrize(
    "body",
    [{}, {"openid": "o"}, {"nickName": ""}, {"nickName": "a\u0000"}, {"avatarUrl": "http://example.com/a.png"},
     {"avatarUrl": "https://user@example.com/a.png"}, {"nickName": "x" * 65}],
)  # fmt: skip
def test_only_a_valid_nickname_and_https_avatar_can_be_updated(body):
    with pytest.raises(InvalidRequest):
        UpdateMeRequest.from_event(event(body))
    fields = {"nickName": "小程序用户", "avatarUrl": "https://example.com/a.png"}
    assert UpdateMeRequest.from_event(event(fields)).fields == fields
