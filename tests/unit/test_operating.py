"""The operating pieces that are plain functions: stream records into events and audit entries, phone lookup
keys, admin requests, and the local gateway's SigV4 check."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local.iam_authorizer import LOCAL_OPERATOR_ARN, IamRoutes
from local.jwt_authorizer import Denied
from local.template import load_template
from tests.unit.fakes import KEYS
from wxlogin.errors import InvalidRequest, Unauthorized
from wxlogin.services.domain_events import change_of
from wxlogin.services.phone_lookup import lookup_hashes, normalized, phone_hash
from wxlogin.web.admin_requests import AdminRequest

USER = {
    "pk": {"S": "USER#u1"},
    "sk": {"S": "USER"},
    "appid": {"S": "wxapp"},
    "openid": {"S": "o1"},
    "sub": {"S": "s1"},
    "createdBy": {"S": "login-1"},
    "sessionKey": {"B": "c2VjcmV0"},
    "gen": {"S": "g1"},
    "lastLoginAt": {"S": "2026-01-01T00:00:00Z"},
}


def stream_record(name: str, old: dict | None, new: dict | None, keys=None, **extra) -> dict:
    dynamodb = {"Keys": keys or {"pk": USER["pk"], "sk": USER["sk"]}, "ApproximateCreationDateTime": 1767225600}
    if old is not None:
        dynamodb["OldImage"] = old
    if new is not None:
        dynamodb["NewImage"] = new
    return {"eventID": "ev1", "eventName": name, "dynamodb": dynamodb, **extra}


def test_a_sign_up_is_an_event_and_an_audit_entry_without_secrets():
    change = change_of(stream_record("INSERT", None, USER))
    [(name, detail)] = change.events
    assert name == "UserSignedUp"
    assert detail == {
        "version": "1",
        "eventId": "ev1",
        "sub": "s1",
        "appid": "wxapp",
        "openid": "o1",
        "unionid": None,
        "time": "2026-01-01T00:00:00Z",
    }
    assert change.audit["action"] == "signup" and change.account == ("s1", False)


def test_a_later_login_is_no_event_and_phone_block_and_erasure_are():
    again = {**USER, "lastLoginAt": {"S": "2026-01-02T00:00:00Z"}}
    assert change_of(stream_record("MODIFY", USER, again)).events == []
    phone = {**USER, "phoneNumber": {"S": "13800138000"}, "phoneHash": {"S": "h"}}
    [(name, detail)] = change_of(stream_record("MODIFY", USER, phone)).events
    assert name == "PhoneBound" and "13800138000" not in json.dumps(detail)
    blocked = {**USER, "blockedAt": {"S": "t"}, "blockedReason": {"S": "abuse"}, "blockedBy": {"S": "arn"}}
    [(name, detail)] = change_of(stream_record("MODIFY", USER, blocked)).events
    assert (name, detail["reason"]) == ("UserBlocked", "abuse")
    assert [n for n, _ in change_of(stream_record("MODIFY", blocked, USER)).events] == ["UserUnblocked"]
    erased = change_of(stream_record("REMOVE", USER, None))
    assert [(n, d["sub"]) for n, d in erased.events] == [("UserErased", "s1")]
    assert erased.audit["action"] == "erased" and erased.account == ("s1", True)


SESSION_KEYS = {"pk": {"S": "SESSION#abc"}, "sk": {"S": "SESSION"}}
# A session as a login writes it: it names no user (its token's hash covers the user id).
SESSION = {
    **SESSION_KEYS,
    "tokenHash": {"S": "hash-of-the-token"},
    "gen": {"S": "g1"},
    "expiresAt": {"N": "1767830400"},
    "createdAt": {"S": "2026-01-01T00:00:00Z"},
}


def session_change(name: str, old: dict | None, new: dict | None, **extra):
    return change_of(stream_record(name, old, new, SESSION_KEYS, **extra))


def test_a_login_is_a_login_entry_of_its_user_naming_the_account_and_a_sign_up_is_a_signup_entry():
    listed = {**USER, "sessions": {"M": {"s1": {"N": "1767830400"}}}}
    # In the same second as the login before: lastLoginAt stays, the new session in the list makes the entry.
    again = {**listed, "sessions": {"M": {"s1": {"N": "1767830400"}, "s2": {"N": "1767830400"}}}}
    change = change_of(stream_record("MODIFY", listed, again))
    assert change.user_id == "u1" and change.events == [] and change.audit["action"] == "login"
    assert change.audit["sub"] == "s1" and change.audit["actor"] == "user"
    assert change_of(stream_record("INSERT", None, USER)).audit["action"] == "signup"
    # Another change of the user item (a profile update, a session dropped from the list) is no login.
    assert change_of(stream_record("MODIFY", again, {**listed, "nickName": {"S": "Ann"}})).audit is None
    # The session a login writes is no second entry.
    assert session_change("INSERT", None, SESSION) is None


def test_a_logout_is_a_logout_entry_once_and_an_erasures_end_of_a_session_none():
    logged_out = {**SESSION, "expiresAt": {"N": "1767225600"}, "endedAt": {"N": "1767225600"}, "uid": {"S": "u1"}}
    change = session_change("MODIFY", SESSION, logged_out)
    assert change.user_id == "u1"
    assert change.audit == {"time": "2026-01-01T00:00:00Z", "action": "logout", "actor": "user"}
    assert "hash-of-the-token" not in json.dumps(change.audit)
    # An erasure ends the session naming nobody (the user item's removal is the erasure's entry).
    erased = {k: v for k, v in SESSION.items() if k != "gen"} | {"endedAt": {"N": "1767225600"}}
    assert session_change("MODIFY", SESSION, erased) is None
    # Ended again (an erasure after a logout): no second entry.
    assert session_change("MODIFY", logged_out, {**erased, "endedAt": {"N": "1767225700"}}) is None


def test_other_changes_of_a_session_leave_no_entry():
    checked = {**SESSION, "keyCheckedAt": {"N": "1767225600"}}
    assert session_change("MODIFY", SESSION, checked) is None
    # The TTL's delete of a session (ended or expired) is neither a login nor a logout.
    ttl = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    assert session_change("REMOVE", SESSION, None, userIdentity=ttl) is None
    assert session_change("REMOVE", {**SESSION, "endedAt": {"N": "1767225600"}}, None, userIdentity=ttl) is None


def test_a_failed_keyed_logins_record_names_nobody_and_is_no_entry():
    failed = {**SESSION_KEYS, "keyCheck": {"S": "k"}, "kid": {"S": "k1"}, "expiresAt": {"N": "1767225900"}}
    for name, old, new in (("INSERT", None, failed), ("MODIFY", failed, {**failed, "endedAt": {"N": "1"}})):
        assert session_change(name, old, new) is None
    assert session_change("REMOVE", failed, None) is None
    # Other keys the table holds never make an entry.
    other = {"pk": {"S": "APP#wxapp"}, "sk": {"S": "ACCESS_TOKEN"}}
    assert change_of(stream_record("INSERT", None, other, other)) is None


@pytest.mark.parametrize("text", ["+8613800138000", "13800138000", "+86 138-0013-8000", "008613800138000"])
def test_a_phone_number_is_found_whatever_its_spelling(text):
    assert normalized(text) == "+8613800138000"
    stored = phone_hash(KEYS, {"countryCode": "86", "purePhoneNumber": "13800138000"})
    assert lookup_hashes(KEYS, text)[0] == stored and "13800138000" not in stored


@pytest.mark.parametrize("text", ["", "12", "+0123456789", "phone", "+86 138 0013 8000 0000 00"])
def test_a_malformed_phone_number_is_refused(text):
    with pytest.raises(InvalidRequest):
        normalized(text)


def admin_event(body: dict, arn: str | None = LOCAL_OPERATOR_ARN) -> dict:
    context = {"authorizer": {"iam": {"userArn": arn}}} if arn else {}
    return {"body": json.dumps(body), "headers": {"content-type": "application/json"}, "requestContext": context}


def test_an_admin_request_names_one_user_and_its_operator():
    request = AdminRequest.from_event(admin_event({"phone": "+8613800138000", "reason": "abuse"}), True)
    assert request.operator == LOCAL_OPERATOR_ARN and request.reason == "abuse"
    assert "13800138000" not in repr(request)
    with pytest.raises(Unauthorized):
        AdminRequest.from_event(admin_event({"sub": "s1"}, arn=None))
    for body in ({}, {"openid": "o"}, {"sub": "s", "phone": "p"}, {"sub": "s", "reason": "\x00"}, {"sub": "s", "x": 1}):
        with pytest.raises(InvalidRequest):
            AdminRequest.from_event(admin_event(body))
    with pytest.raises(InvalidRequest):
        AdminRequest.from_event(admin_event({"sub": "s1"}), reason_required=True)


LOCAL = Credentials("local", "local")


def signed(body: bytes, credentials=LOCAL, region="us-east-1", service="execute-api"):
    request = AWSRequest(method="POST", url="http://127.0.0.1:3000/admin/users/show", data=body)
    SigV4Auth(credentials, service, region).add_auth(request)
    return dict(request.headers.items()) | {"host": "127.0.0.1:3000"}


def test_the_local_gateway_checks_sigv4_as_api_gateway_does():
    routes = IamRoutes.from_template(load_template(), "local", "local", "us-east-1")
    assert ("POST", "/admin/users/show") in routes.routes and ("GET", "/v1/me") not in routes.routes
    body = b'{"sub":"s1"}'
    context = routes.authorize("POST", "/admin/users/show", "", signed(body), body)
    assert context["iam"]["userArn"] == LOCAL_OPERATOR_ARN
    assert routes.authorize("GET", "/v1/me", "", {}, None) is None
    refusals = [
        ({}, body),
        ({"Authorization": "Bearer abc.def"}, body),
        (signed(body), b'{"sub":"s2"}'),
        (signed(body, Credentials("local", "wrong")), body),
        (signed(body, Credentials("other", "local")), body),
        (signed(body, region="eu-west-1"), body),
        (signed(body, service="lambda"), body),
    ]
    for headers, sent in refusals:
        with pytest.raises(Denied) as refused:
            routes.authorize("POST", "/admin/users/show", "", headers, sent)
        assert refused.value.status == 403
    later = datetime.now(UTC).replace(year=datetime.now(UTC).year + 1)
    with pytest.raises(Denied):
        routes.authorize("POST", "/admin/users/show", "", signed(body), body, now=later)
