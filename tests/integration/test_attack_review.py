"""A reviewer's attacks on issue 10's promises, through the real handlers: each test here failed on the
code it was written against (see the review report); the lead decides the fixes.
"""

from __future__ import annotations

import json
import secrets
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError

from tests.support.inprocess import rewire
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


def _losing_first_answer(operation: str):
    """A DynamoDB client whose first `operation` is applied but whose answer is lost; botocore retries it.

    The write is applied through a second client before the read timeout is raised: a handler that only
    raises in before-send runs before moto's own, so the table would never have taken the first write."""
    client = boto3.client("dynamodb", config=Config(retries={"mode": "standard", "max_attempts": 3}))
    table_side = boto3.client("dynamodb")
    method = {"PutItem": "put_item", "UpdateItem": "update_item"}[operation]
    sent, lost = [], []

    def keep(params, **_):
        sent.append(dict(params))

    def lose(request, **_):
        if not lost:
            lost.append(operation)
            getattr(table_side, method)(**sent[-1])
            raise ReadTimeoutError(endpoint_url=request.url)

    client.meta.events.register(f"before-parameter-build.dynamodb.{operation}", keep)
    client.meta.events.register_last(f"before-send.dynamodb.{operation}", lose)
    return client, lost


def test_a_keyed_login_whose_marker_write_lands_but_whose_answer_is_lost_gets_its_session_at_once(
    api, aws, wechat, monkeypatch
):
    """The first write of a keyed login is the PutItem of its pending marker. When DynamoDB applies it but the
    answer is lost, botocore's retry finds the marker there (ConditionalCheckFailed): the login must know the
    marker is its own, not wait for itself until its deadline and then answer invalid_code."""
    client, lost = _losing_first_answer("PutItem")
    fake = FakeTime()
    rewire(monkeypatch, _login_module(api), "LoginFunction", dynamodb=client, clock=fake.clock, sleep=fake.sleep)
    wechat.register("lost-marker-1", OPENID, SESSION_KEY)
    key = {"Idempotency-Key": secrets.token_hex(16)}
    first = api.post(LOGIN, {"code": "lost-marker-1"}, headers=key)
    assert lost == ["PutItem"]
    assert (first.status, fake.slept) == (200, 0.0), (first.body, fake.slept)
    # And the client's own retry with the same key then gets that same session, without waiting either.
    again = api.post(LOGIN, {"code": "lost-marker-1"}, headers=key)
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


# A keyed login's first PutItem is its marker: the test further up.
@pytest.mark.parametrize(("operation", "keyed"), [("UpdateItem", False), ("PutItem", False), ("UpdateItem", True)])
def test_a_login_whose_write_really_lands_but_whose_answer_is_lost_gets_its_session(
    api, aws, wechat, monkeypatch, operation, keyed
):
    """tests/integration/test_attacks.py has this test, but its client raises before moto applies the write,
    so the retried write finds nothing there. Here the first write is in the table when its answer is lost."""
    client, lost = _losing_first_answer(operation)
    fake = FakeTime()
    rewire(monkeypatch, _login_module(api), "LoginFunction", dynamodb=client, clock=fake.clock, sleep=fake.sleep)
    wechat.register("really-lost-1", OPENID, SESSION_KEY)
    headers = {"Idempotency-Key": secrets.token_hex(16)} if keyed else {}
    first = api.post(LOGIN, {"code": "really-lost-1"}, headers=headers)
    assert lost == [operation]
    assert first.status == 200 and first.body["isNewUser"] is True, first.body
    assert api.get("/v1/me", token=first.body["token"]).status == 200
