"""Operating wxlogin through the local stack: the admin API behind IAM, blocking, events, the audit trail.

Everything goes over HTTP as an operator and a Mini Program would: admin requests signed with SigV4 by the
stack's local credentials (and refused unsigned, with a user's token or a wrong key, as API Gateway does),
users logging in through the WeChat simulator, events read where `make run` shows them.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local.iam_authorizer import LOCAL_OPERATOR_ARN
from local.stack import DEV_APP_ID, LOCAL_TABLE, LocalStack, Ports

ROOT = Path(__file__).resolve().parents[2]
LOCAL_KEYS = Credentials("local", "local")


@pytest.fixture(scope="module")
def stack():
    with LocalStack(ports=Ports(0, 0, 0), quiet=True) as running:
        yield running


class Operator:
    def __init__(self, stack: LocalStack, credentials: Credentials = LOCAL_KEYS):
        self.stack, self.credentials = stack, credentials

    def post(self, action: str, body: dict, sign: bool = True, headers: dict | None = None) -> requests.Response:
        url = f"{self.stack.api_url}/admin/users/{action}"
        data = json.dumps(body).encode()
        request = AWSRequest(method="POST", url=url, data=data, headers={"Content-Type": "application/json"})
        if sign:
            SigV4Auth(self.credentials, "execute-api", "us-east-1").add_auth(request)
        sent = {**dict(request.headers.items()), **(headers or {})}
        return requests.post(url, data=data, headers=sent, timeout=30)

    def ok(self, action: str, body: dict) -> dict:
        answer = self.post(action, body)
        assert answer.status_code == 200, answer.text
        return answer.json()


class MiniProgram:
    def __init__(self, stack: LocalStack, name: str):
        self.stack, self.name = stack, name
        self.api, self.sim = stack.api_url, stack.wechat.base_url

    def login(self) -> requests.Response:
        code = requests.post(f"{self.sim}/_sim/login", json={"appid": DEV_APP_ID, "user": self.name}, timeout=5)
        return requests.post(f"{self.api}/v1/auth/login", json={"code": code.json()["code"]}, timeout=30)

    def session(self) -> dict:
        answer = self.login()
        assert answer.status_code == 200, answer.text
        return answer.json()

    def call(self, method: str, path: str, token: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"}
        return requests.request(method, self.api + path, headers=headers, timeout=30, **kwargs)

    def bind_phone(self, token: str, openid: str, phone: str) -> requests.Response:
        body = {"appid": DEV_APP_ID, "openid": openid, "phone": phone}
        code = requests.post(f"{self.sim}/_sim/phone-code", json=body, timeout=5).json()["code"]
        return self.call("POST", "/v1/profile/phone", token, json={"code": code})


def claims(access_token: str) -> dict:
    payload = access_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def wait_for_event(stack: LocalStack, detail_type: str, openid: str, count: int = 1, timeout: float = 15) -> list:
    deadline = time.monotonic() + timeout
    while True:
        found = [
            event
            for event in list(stack.events.events)
            if event["detail-type"] == detail_type and event["detail"]["openid"] == openid
        ]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def trail_actions(operator: Operator, who: dict, wanted: set[str], timeout: float = 15) -> list[dict]:
    """The trail once it holds every wanted action (the stream's entries arrive a moment after the change)."""
    deadline = time.monotonic() + timeout
    while True:
        entries = operator.ok("trail", who)["entries"]
        if wanted <= {entry["action"] for entry in entries} or time.monotonic() > deadline:
            return entries
        time.sleep(0.1)


def findable_by_sub(operator: Operator, sub: str, timeout: float = 15) -> list[dict]:
    """A new account's sub finds it a moment after sign-up (the events function records it from the stream)."""
    deadline = time.monotonic() + timeout
    while True:
        users = operator.ok("find", {"sub": sub})["users"]
        if users or time.monotonic() > deadline:
            return users
        time.sleep(0.1)


def assert_event_shape(event: dict, detail_type: str) -> dict:
    assert event["source"] == "wxlogin" and event["detail-type"] == detail_type
    detail = event["detail"]
    assert {"version", "eventId", "sub", "appid", "openid", "unionid", "time"} <= set(detail)
    assert detail["version"] == "1" and detail["appid"] == DEV_APP_ID
    assert detail["time"].endswith("Z")
    text = json.dumps(event)
    for secret in ("sessionKey", "session_key", "token", "phoneNumber", "phoneHash", "gen"):
        assert f'"{secret}"' not in text
    return detail


# --- the admin path is IAM's ------------------------------------------------------------------------------


def test_admin_routes_refuse_unsigned_user_token_and_wrong_key_requests(stack):
    user = MiniProgram(stack, "iam-probe")
    session = user.session()
    who = {"appid": DEV_APP_ID, "openid": session["openid"]}
    operator = Operator(stack)

    unsigned = operator.post("show", who, sign=False)
    assert (unsigned.status_code, unsigned.json()) == (403, {"message": "Forbidden"})
    with_token = operator.post("show", who, sign=False, headers={"Authorization": f"Bearer {session['token']}"})
    assert (with_token.status_code, with_token.json()) == (403, {"message": "Forbidden"})
    with_access_token = operator.post(
        "block", {**who, "reason": "x"}, sign=False, headers={"Authorization": f"Bearer {session['accessToken']}"}
    )
    assert with_access_token.status_code == 403
    unknown_key = Operator(stack, Credentials("AKIAOTHER", "local")).post("show", who)
    assert unknown_key.status_code == 403 and "security token" in unknown_key.json()["message"]
    wrong_secret = Operator(stack, Credentials("local", "not-the-secret")).post("show", who)
    assert wrong_secret.status_code == 403 and "signature" in wrong_secret.json()["message"]
    # A signed request whose body was changed on the way does not match its signature.
    request = AWSRequest(
        method="POST",
        url=f"{stack.api_url}/admin/users/block",
        data=json.dumps({**who, "reason": "x"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    SigV4Auth(LOCAL_KEYS, "execute-api", "us-east-1").add_auth(request)
    changed = b'{"sub":"someone-else","reason":"x"}'
    tampered = requests.post(request.url, data=changed, headers=dict(request.headers), timeout=30)
    assert tampered.status_code == 403

    # None of them reached the function: the user is not blocked and the trail holds no operator entry.
    assert operator.ok("show", who)["blocked"] is None
    actions = [entry["action"] for entry in operator.ok("trail", who)["entries"]]
    assert "operator_block" not in actions and actions.count("operator_show") == 1  # the show just now
    assert user.call("GET", "/v1/me", session["token"]).status_code == 200


def test_a_bad_selector_is_a_clear_400_and_an_unknown_user_404(stack):
    operator = Operator(stack)
    for body in ({}, {"appid": DEV_APP_ID}, {"sub": "a", "unionid": "b"}, {"phone": "12"}, {"sub": "x", "extra": 1}):
        answer = operator.post("show", body)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_request", body
    assert operator.post("block", {"sub": "AAAAAAAAAAAAAAAAAAAAAA"}).status_code == 400  # a block needs a reason
    missing = operator.post("show", {"sub": "AAAAAAAAAAAAAAAAAAAAAA"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


# --- blocking -------------------------------------------------------------------------------------------


def test_a_blocked_user_gets_403_everywhere_while_another_user_is_unaffected(stack):
    alice, bob = MiniProgram(stack, "blocked-alice"), MiniProgram(stack, "unaffected-bob")
    alice_session, bob_session = alice.session(), bob.session()
    alice.session()  # a second session: every one ends
    operator = Operator(stack)
    who = {"appid": DEV_APP_ID, "openid": alice_session["openid"]}
    assert operator.ok("show", who)["sessions"] == 2

    blocked = operator.ok("block", {**who, "reason": "coupon abuse"})
    assert blocked["blocked"]["reason"] == "coupon abuse" and blocked["blocked"]["by"] == LOCAL_OPERATOR_ARN
    assert blocked["sessions"] == 0

    for answer in (
        alice.login(),
        alice.call("POST", "/v1/auth/token", alice_session["token"]),
        alice.call("GET", "/v1/me", alice_session["token"]),
        alice.call("PATCH", "/v1/me", alice_session["token"], json={"nickName": "x"}),
    ):
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["code"] == "user_blocked"
    # The refused login changed nothing: the user is as the block left it.
    assert operator.ok("show", who)["lastLoginAt"] == blocked["lastLoginAt"]

    assert bob.call("GET", "/v1/me", bob_session["token"]).status_code == 200
    assert bob.call("POST", "/v1/auth/token", bob_session["token"]).status_code == 200
    assert bob.login().status_code == 200

    unblocked = operator.ok("unblock", {**who, "reason": "appeal accepted"})
    assert unblocked["blocked"] is None
    # Sessions the block ended stay ended; a new login works.
    assert alice.call("GET", "/v1/me", alice_session["token"]).status_code == 401
    fresh = alice.session()
    assert alice.call("GET", "/v1/me", fresh["token"]).status_code == 200

    (blocked_event,) = wait_for_event(stack, "UserBlocked", alice_session["openid"])
    assert assert_event_shape(blocked_event, "UserBlocked")["reason"] == "coupon abuse"
    (unblocked_event,) = wait_for_event(stack, "UserUnblocked", alice_session["openid"])
    assert_event_shape(unblocked_event, "UserUnblocked")

    entries = trail_actions(operator, who, {"operator_block", "operator_unblock", "login"})
    block_entry = next(e for e in entries if e["action"] == "operator_block")
    assert block_entry["actor"] == LOCAL_OPERATOR_ARN and block_entry["reason"] == "coupon abuse"
    assert block_entry["sessionsEnded"] == 2


def test_sign_out_everywhere_ends_every_session_and_keeps_the_account(stack):
    user = MiniProgram(stack, "signed-out")
    first, second = user.session(), user.session()
    operator = Operator(stack)
    answer = operator.ok("signout", {"appid": DEV_APP_ID, "openid": first["openid"], "reason": "phone stolen"})
    assert answer["sessionsEnded"] == 2 and answer["user"]["sessions"] == 0
    for session in (first, second):
        assert user.call("GET", "/v1/me", session["token"]).status_code == 401
        assert user.call("POST", "/v1/auth/token", session["token"]).status_code == 401
    assert user.call("GET", "/v1/me", user.session()["token"]).status_code == 200


# --- finding, export ------------------------------------------------------------------------------------


def test_find_by_each_identifier_and_export_without_secrets(stack):
    user = MiniProgram(stack, "findable")
    session = user.session()
    assert user.bind_phone(session["token"], session["openid"], "13912345678").status_code == 200
    operator = Operator(stack)
    by_openid = operator.ok("find", {"appid": DEV_APP_ID, "openid": session["openid"]})["users"]
    assert [found["openid"] for found in by_openid] == [session["openid"]]
    sub = by_openid[0]["sub"]
    assert sub == claims(session["accessToken"])["sub"]
    assert findable_by_sub(operator, sub) == by_openid
    for phone in ("+8613912345678", "13912345678", "+86 139-1234-5678"):
        assert operator.ok("find", {"phone": phone})["users"] == by_openid, phone
    assert operator.ok("find", {"phone": "+8613900000000"})["users"] == []

    shown = operator.ok("show", {"phone": "+8613912345678"})
    assert shown["phone"]["purePhoneNumber"] == "13912345678" and shown["sessions"] == 1
    assert {"sub", "openid", "appid", "profile", "phone", "createdAt", "lastLoginAt", "blocked"} <= set(shown)

    exported = operator.ok("export", {"sub": sub})
    assert exported["format"] == "wxlogin.user-export/1"
    assert exported["user"]["openid"] == session["openid"] and exported["user"]["phone"] == shown["phone"]
    assert len(exported["sessions"]) == 1
    text = json.dumps(exported)
    for secret in ("sessionKey", "phoneHash", "gen", "createdBy", "SESSION#", session["token"].split(".")[1]):
        assert secret not in text
    # The stored number is in the user item only: the phone index holds the hash, never the number.
    items = stack.aws_client("dynamodb").scan(TableName=LOCAL_TABLE, IndexName="phone-index")["Items"]
    assert items and "13912345678" not in json.dumps(items)

    (phone_event,) = wait_for_event(stack, "PhoneBound", session["openid"])
    assert assert_event_shape(phone_event, "PhoneBound")["sub"] == sub
    assert "13912345678" not in json.dumps(phone_event)


# --- events and erasure ---------------------------------------------------------------------------------


def test_sign_up_and_erasure_events_name_the_sub_the_access_token_carried(stack):
    user = MiniProgram(stack, "erased-by-user")
    session = user.session()
    sub = claims(session["accessToken"])["sub"]
    (signed_up,) = wait_for_event(stack, "UserSignedUp", session["openid"])
    assert assert_event_shape(signed_up, "UserSignedUp")["sub"] == sub
    user.session()  # a second login: no second sign-up
    assert user.call("POST", "/v1/auth/logout", session["token"]).status_code == 204

    assert user.call("DELETE", "/v1/me", user.session()["token"]).status_code == 204
    (erased,) = wait_for_event(stack, "UserErased", session["openid"])
    assert assert_event_shape(erased, "UserErased")["sub"] == sub
    assert len(wait_for_event(stack, "UserSignedUp", session["openid"], count=2, timeout=1)) == 1

    # The trail outlives the erasure it records.
    operator = Operator(stack)
    entries = trail_actions(operator, {"sub": sub}, {"signup", "login", "logout", "erased"})
    assert {"signup", "login", "logout", "erased"} <= {entry["action"] for entry in entries}
    assert all(entry["sub"] == sub for entry in entries if "sub" in entry)
    assert {entry["action"] for entry in entries if "sub" in entry} >= {"signup", "erased"}


def test_an_operator_erasure_is_the_same_erasure_with_its_event(stack):
    user = MiniProgram(stack, "erased-by-operator")
    session = user.session()
    sub = claims(session["accessToken"])["sub"]
    operator = Operator(stack)
    findable_by_sub(operator, sub)
    answer = operator.ok("erase", {"sub": sub, "reason": "legal request"})
    assert answer["erased"] == {"sub": sub, "appid": DEV_APP_ID, "openid": session["openid"]}
    assert user.call("GET", "/v1/me", session["token"]).status_code == 401
    assert operator.post("show", {"sub": sub}).status_code == 404
    items = stack.aws_client("dynamodb").query(
        TableName=LOCAL_TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"USER#{sub}"}},
    )["Items"]
    assert items == []
    (erased,) = wait_for_event(stack, "UserErased", session["openid"])
    assert assert_event_shape(erased, "UserErased")["sub"] == sub
    entry = next(e for e in operator.ok("trail", {"sub": sub})["entries"] if e["action"] == "operator_erase")
    assert entry["actor"] == LOCAL_OPERATOR_ARN and entry["reason"] == "legal request"


# --- the operator's command -----------------------------------------------------------------------------


def _script(*args: str, keys: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"})
    if keys:
        env.update({"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": "us-east-1"})
    command = [sys.executable, str(ROOT / "scripts" / "admin.py"), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)  # noqa: S603


def test_the_admin_script_explains_itself_and_fails_cleanly(stack):
    helped = _script("--help", keys=False)
    assert helped.returncode == 0
    for action in ("find", "show", "block", "unblock", "signout", "export", "erase", "trail"):
        assert action in helped.stdout
    assert "--reason" in _script("block", "--help", keys=False).stdout

    no_keys = _script("--url", stack.api_url, "--region", "us-east-1", "show", "--sub", "x", keys=False)
    assert no_keys.returncode == 2 and "no AWS credentials" in no_keys.stderr
    assert "Traceback" not in no_keys.stderr
    no_url = _script("show", "--sub", "x")
    assert no_url.returncode == 2 and "WXLOGIN_ADMIN_URL" in no_url.stderr
    two_ways = _script("--url", stack.api_url, "show", "--sub", "x", "--unionid", "y")
    assert two_ways.returncode == 2 and "exactly one" in two_ways.stderr
    wrong_keys = _script("--url", stack.api_url, "show", "--sub", "x", keys=False)
    assert wrong_keys.returncode != 0 and "Traceback" not in wrong_keys.stderr

    session = MiniProgram(stack, "scripted").session()
    shown = _script("--url", stack.api_url, "show", "--appid", DEV_APP_ID, "--openid", session["openid"])
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["openid"] == session["openid"]
    missing = _script("--url", stack.api_url, "show", "--sub", "AAAAAAAAAAAAAAAAAAAAAA")
    assert missing.returncode == 1 and "404 not_found" in missing.stderr and "Traceback" not in missing.stderr
