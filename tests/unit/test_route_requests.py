"""Each route's typed request, built from an API Gateway event: one rule per field, bad input is 400."""

from __future__ import annotations

import json

import pytest

from local.wechat_simulator import encrypt_user_data
from tests.support.values import SESSION_KEY
from wxlogin.errors import InvalidRequest
from wxlogin.route_requests import LoginRequest, MeRequest, PhoneRequest, UpdateMeRequest

ENCRYPTED, IV = encrypt_user_data(SESSION_KEY, {"openId": "o"})


def event(body=None, headers=None, query=None) -> dict:
    return {
        "headers": {"content-type": "application/json", **(headers or {})},
        "body": None if body is None else json.dumps(body),
        "queryStringParameters": query,
    }


def test_a_login_request_holds_every_field_checked():
    request = LoginRequest.from_event(
        event({"code": "c1", "appid": "wx1", "encryptedData": ENCRYPTED, "iv": IV}, {"idempotency-key": "k" * 16})
    )
    assert (request.code, request.appid, request.idempotency_key) == ("c1", "wx1", "k" * 16)
    assert len(request.encrypted.iv) == 16
    assert "c1" not in repr(request) and "k" * 16 not in repr(request)


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
