"""A reviewer's attacks on issue 10's promises, through the real handlers.

The replays after logout or erasure and the copied sealed session_key held; every other test here failed on
the code it was written against (see the review report), and the lead decides the fixes.
"""

from __future__ import annotations

import json
import secrets
import time

import pytest
import requests

from tests.support.faults import losing_first_answer
from tests.support.inprocess import assert_session_ended, rewire
from tests.support.values import OPENID, SESSION_KEY

LOGIN = "/v1/auth/login"


class FakeTime:
    """A clock that only moves when the login service sleeps: a wait costs the test nothing, and is measured."""

    def __init__(self):
        self.now = time.time()
        self.slept = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now += seconds


def _login_module(api):
    return api.module(*api.function("LoginFunction"))


def test_a_keyed_login_whose_session_write_lands_but_whose_answer_is_lost_gets_its_session_at_once(
    api, aws, wechat, monkeypatch
):
    """A keyed login's PutItem writes its session, with the sealed answer, only where none of its code is. When
    DynamoDB applies it but the answer is lost, botocore's retry finds the session there (ConditionalCheckFailed):
    the login must know the session is its own, not wait for it or answer invalid_code."""
    client, lost = losing_first_answer("PutItem")
    fake = FakeTime()
    rewire(monkeypatch, _login_module(api), "LoginFunction", dynamodb=client, clock=fake.clock, sleep=fake.sleep)
    wechat.register("lost-session-1", OPENID, SESSION_KEY)
    key = {"Idempotency-Key": secrets.token_hex(16)}
    first = api.post(LOGIN, {"code": "lost-session-1"}, headers=key)
    assert lost == ["PutItem"]
    assert (first.status, fake.slept) == (200, 0.0), (first.body, fake.slept)
    # And the client's own retry with the same key then gets that same session, without waiting either.
    again = api.post(LOGIN, {"code": "lost-session-1"}, headers=key)
    assert again.status == 200 and again.body["token"] == first.body["token"]


def _emf_metrics(out: str) -> list[str]:
    names = []
    for line in out.splitlines():
        try:
            blob = json.loads(line)
        except ValueError:
            continue
        if isinstance(blob, dict) and "_aws" in blob:
            names += [m["Name"] for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"] if m["Name"] in blob]
    return names


def test_a_replayed_login_of_a_new_user_counts_no_second_new_user(api, aws, wechat, capsys):
    """A client's retry with its Idempotency-Key gets the first answer back (isNewUser included); the NewUsers
    metric must still count the person once, or it over-counts exactly as issue 10 says it must not."""
    code, key = wechat.login_code("fresh-person"), {"Idempotency-Key": secrets.token_hex(16)}
    capsys.readouterr()
    first = api.post(LOGIN, {"code": code}, headers=key)
    again = api.post(LOGIN, {"code": code}, headers=key)
    assert first.status == again.status == 200 and first.body["isNewUser"] is True
    assert again.body["token"] == first.body["token"]
    assert _emf_metrics(capsys.readouterr().out).count("NewUsers") == 1


@pytest.mark.parametrize(
    "weak_key",
    [
        "ghijkghijkghijkghijkgh",  # 22 characters, a 5-character pattern repeated
        "aaaaaaaaaaaaaaaaaaaaaaaaaaabcdef",  # 32 hex digits, 27 of them the same
        "abcdeabcdeabcdeabcdeabcdeabcdeab",  # 32 hex digits, a 5-digit pattern repeated
        "0123456789abcdef0123456789abcdef",  # 64 bits written twice
        "abcdefghijklmnopqrstuv",  # the alphabet
        "00000000000000000000000000001234",  # a counter
    ],
)
def test_a_weak_idempotency_key_is_refused(api, wechat, weak_key):
    """Issue 10: a key carries at least 128 bits (`aaaaaaaaaaaaaaaa` was guessed). These carry far fewer."""
    answer = api.post(LOGIN, {"code": wechat.login_code()}, headers={"Idempotency-Key": weak_key})
    assert (answer.status, answer.body["error"]["code"]) == (400, "invalid_request"), answer.body


def _user_item(aws, openid: str) -> dict:
    return next(i for i in aws.items() if i["sk"]["S"] == "USER" and i["openid"]["S"] == openid)


@pytest.mark.parametrize("revoke", ["logout", "erasure", "erasure and a new login"])
def test_a_replayed_login_never_revives_a_revoked_session(api, aws, wechat, revoke):
    code, key = wechat.login_code("replayer"), {"Idempotency-Key": secrets.token_hex(16)}
    first = api.post(LOGIN, {"code": code}, headers=key)
    assert first.status == 200
    token = first.body["token"]
    if revoke == "logout":
        assert api.post("/v1/auth/logout", token=token).status == 204
    else:
        assert api.delete("/v1/me", token=token).status == 204
        if revoke == "erasure and a new login":
            assert api.post(LOGIN, {"code": wechat.login_code("replayer")}).status == 200
    exchanges = wechat.stats()["jscode2session"]
    replay = api.post(LOGIN, {"code": code}, headers=key)
    assert (replay.status, replay.body["error"]["code"]) == (401, "invalid_code"), replay.body
    assert wechat.stats()["jscode2session"] == exchanges  # at once: the ended session refuses it
    assert api.get("/v1/me", token=token).status == 401
    assert_session_ended(aws.session_of(token), time.time(), erased=revoke != "logout")


def test_a_sealed_session_key_copied_onto_another_users_item_does_not_open(api, aws, wechat, login):
    victim_key, thief_key = SESSION_KEY, "ZmZmZmZmZmZmZmZmZmZmZg=="
    login(openid=OPENID, session_key=victim_key)
    thief_openid = "oThief0000000000000000000000"
    thief = login(openid=thief_openid, session_key=thief_key)
    victim_item, thief_item = _user_item(aws, OPENID), _user_item(aws, thief_openid)
    aws.dynamodb.update_item(
        TableName=aws.table,
        Key={"pk": thief_item["pk"], "sk": thief_item["sk"]},
        UpdateExpression="SET sessionKey = :k",
        ExpressionAttributeValues={":k": victim_item["sessionKey"]},
    )
    before = aws.items()
    # Data made under the victim's session_key naming the thief: it would open only with the victim's key.
    data = wechat.user_data(thief_openid, session_key=victim_key, profile={"nickName": "Opened"})
    answer = api.post("/v1/profile/decrypt", data, token=thief.token)
    assert answer.status != 200 and aws.items() == before


@pytest.mark.parametrize("address", ["198.51.100.7", "2001:db8:1:2::{i:x}"])
def test_junk_codes_from_one_address_never_cost_its_neighbours_their_logins(api, aws, wechat, capsys, address):
    """Carrier-grade NAT puts many users behind one address: one client's junk there must not refuse the
    valid codes of the others. Each junk code reaches WeChat, is counted as RefusedCodes and writes nothing."""
    before = aws.items()
    junk = [api.post(LOGIN, {"code": f"junk{i:04}"}, source_ip=address.format(i=i + 1)) for i in range(30)]
    assert {(a.status, a.body["error"]["code"]) for a in junk} == {(401, "invalid_code")}
    assert aws.items() == before and _emf_metrics(capsys.readouterr().out).count("RefusedCodes") == 30
    users = [
        api.post(LOGIN, {"code": wechat.login_code(f"neighbour{i}")}, source_ip=address.format(i=100 + i))
        for i in range(20)
    ]
    assert [a.status for a in users] == [200] * 20
    assert wechat.stats()["jscode2session"] == 50
    assert "RefusedCodes" not in _emf_metrics(capsys.readouterr().out)


def test_a_table_reader_gets_no_wechat_access_token_it_can_use(api, aws, wechat, login):
    """Issue 10 seals session_key so that a table export, a backup or a read-only role reveals none; the app's
    WeChat access_token sits beside it, and with it a table reader would call WeChat as the app."""
    user = login()
    bound = api.post("/v1/profile/phone", {"code": wechat.phone_code(user.openid)}, token=user.token)
    assert bound.status == 200, bound.body
    [item] = [item for item in aws.items() if "accessToken" in item]
    token = aws.access_token_of(item)
    assert token.encode() not in repr(item).encode() and token.encode() not in item["accessToken"]["B"]
    for value in (str(attr) for attr in item.values()):
        answer = requests.post(
            f"{wechat.base_url}/wxa/business/getuserphonenumber",
            params={"access_token": value},
            json={"code": wechat.phone_code(user.openid)},
            timeout=5,
        ).json()
        assert answer.get("errcode", 0) != 0, "an attribute of the table's item works as the app's access_token"
