"""Issue 10's attacks on login, written as an attacker would send them, through the real handlers.

Replay without stalls, Powertools switches that would log requests, and a
write whose answer botocore loses. (Races across instances are in tests/hardening/test_concurrency.py;
the scan for a session_key in clear runs on every test's table, in tests/conftest.py.)
"""

from __future__ import annotations

import secrets
import time

import boto3
import pytest

from tests.support.faults import losing_first_answer
from tests.support.inprocess import Api, rewire
from tests.support.values import OPENID, SESSION_KEY

LOGIN = "/v1/auth/login"


def _random_key() -> dict:
    return {"Idempotency-Key": secrets.token_hex(16)}


def _login_module(api):
    return api.module(*api.function("LoginFunction"))


class NoWaiting:
    """A login service's sleep that records each wait: a refused replay must never wait."""

    def __init__(self):
        self.slept: list[float] = []

    def __call__(self, seconds):
        self.slept.append(seconds)
        time.sleep(seconds)


def test_a_used_code_with_random_keys_is_invalid_code_at_once_and_delays_no_legit_login(api, aws, wechat, monkeypatch):
    """Five requests with a used code and a random key each (the attack that held an instance for 2 s per
    request): each is invalid_code without a single wait, and the next legitimate login is served at once."""
    sleeps = NoWaiting()
    rewire(monkeypatch, _login_module(api), "LoginFunction", sleep=sleeps)
    keyed_code, plain_code = wechat.login_code("victim"), wechat.login_code("victim")
    assert api.post(LOGIN, {"code": keyed_code}, headers=_random_key()).status == 200
    assert api.post(LOGIN, {"code": plain_code}).status == 200
    calls_before, stored = wechat.stats()["jscode2session"], aws.items()
    for code in (keyed_code, plain_code, keyed_code, plain_code, keyed_code):
        answer = api.post(LOGIN, {"code": code}, headers=_random_key())
        assert (answer.status, answer.body["error"]["code"]) == (401, "invalid_code")
    # Each is answered from the code's session item (made with another key, or with none): no WeChat call,
    # no write, and so nothing a later request could wait for.
    assert wechat.stats()["jscode2session"] == calls_before and aws.items() == stored
    legit = api.post(LOGIN, {"code": wechat.login_code("someone")})
    assert legit.status == 200 and sleeps.slept == []
    assert wechat.stats()["jscode2session"] - calls_before == 1


def _counted(api, monkeypatch) -> list[str]:
    """The DynamoDB operations the login function makes from now on, in order (botocore's own event hook)."""
    calls = []
    client = boto3.client("dynamodb")
    client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    rewire(monkeypatch, _login_module(api), "LoginFunction", dynamodb=client)
    return calls


def test_a_plain_login_is_one_read_two_writes_and_nothing_more(api, aws, wechat, monkeypatch):
    calls = _counted(api, monkeypatch)
    assert api.post(LOGIN, {"code": wechat.login_code()}).status == 200  # a new user
    assert api.post(LOGIN, {"code": wechat.login_code()}).status == 200  # and a known one
    # The user's generation and list; the user (listing the session); the session.
    assert calls == ["GetItem", "UpdateItem", "PutItem"] * 2


def test_a_keyed_login_is_the_plain_login_and_one_read_and_its_retry_two_reads(api, aws, wechat, monkeypatch):
    calls = _counted(api, monkeypatch)
    code, key = wechat.login_code(), _random_key()
    first = api.post(LOGIN, {"code": code}, headers=key)
    assert first.status == 200
    # The code's session (none yet), then the plain login, whose session item holds the sealed answer.
    assert calls == ["GetItem", "GetItem", "UpdateItem", "PutItem"]
    del calls[:]
    exchanges = wechat.stats()["jscode2session"]
    again = api.post(LOGIN, {"code": code}, headers=key)
    assert again.status == 200 and again.body["token"] == first.body["token"]
    # The code's session, then that session with its user (a logout, erasure or sign-out since ends the retry).
    assert calls == ["GetItem", "BatchGetItem"] and wechat.stats()["jscode2session"] == exchanges


def test_a_refused_code_writes_nothing(api, aws, wechat, monkeypatch):
    calls = _counted(api, monkeypatch)
    wechat.fault(count=2, errcode=40029, paths=["/sns/jscode2session"])
    for headers in ({}, _random_key()):
        answer = api.post(LOGIN, {"code": "refusedByWeChat"}, headers=headers)
        assert (answer.status, answer.body["error"]["code"]) == (401, "invalid_code")
    assert calls == ["GetItem"] and aws.items() == []  # the keyed one looked for its code's session first


def test_with_every_powertools_switch_on_nothing_request_shaped_is_logged(api, aws, wechat, monkeypatch, capsys, logs):
    """POWERTOOLS_LOGGER_LOG_EVENT logged whole events (code, Idempotency-Key); POWERTOOLS_DEV and
    POWERTOOLS_EVENT_HANDLER_DEBUG print them. Fresh instances of every function, started with all three set."""
    for name in ("POWERTOOLS_LOGGER_LOG_EVENT", "POWERTOOLS_DEV", "POWERTOOLS_EVENT_HANDLER_DEBUG"):
        monkeypatch.setenv(name, "true")
    fresh = Api()
    code, key = wechat.login_code(), _random_key()
    answer = fresh.post(LOGIN, {"code": code, "nickName": "body-marker"}, headers=key)
    assert answer.status == 200, answer.body
    token = answer.body["token"]
    data = wechat.user_data(answer.body["openid"], profile={"nickName": "Logged?"})
    assert fresh.post("/v1/profile/decrypt", data, token=token).status in (200, 422)
    assert fresh.get("/v1/me", token=token).status == 200
    printed = capsys.readouterr()
    everything = "\n".join([*logs.lines, printed.out, printed.err])
    for secret in (code, key["Idempotency-Key"], token, token.split(".")[1], data["encryptedData"], "body-marker"):
        assert secret not in everything
    assert '"requestContext"' not in everything and "rawPath" not in everything


# A keyed login's PutItem is its session with the sealed answer: test_attack_review.py loses that one's answer.
@pytest.mark.parametrize(("operation", "keyed"), [("UpdateItem", False), ("PutItem", False), ("UpdateItem", True)])
def test_a_login_whose_write_lands_but_whose_answer_is_lost_still_gets_its_session(
    api, aws, wechat, monkeypatch, operation, keyed
):
    headers = {"Idempotency-Key": secrets.token_hex(16)} if keyed else {}
    client, lost = losing_first_answer(operation)
    rewire(monkeypatch, _login_module(api), "LoginFunction", dynamodb=client)
    wechat.register("lost-answer-1", OPENID, SESSION_KEY)
    first = api.post(LOGIN, {"code": "lost-answer-1"}, headers=headers)
    assert lost == [operation]
    assert first.status == 200 and first.body["isNewUser"] is True, first.body
    assert api.get("/v1/me", token=first.body["token"]).status == 200
    client, lost = losing_first_answer(operation)
    rewire(monkeypatch, _login_module(api), "LoginFunction", dynamodb=client)
    wechat.register("lost-answer-2", OPENID, SESSION_KEY)
    second = api.post(LOGIN, {"code": "lost-answer-2"}, headers=headers)
    assert lost == [operation] and second.status == 200 and second.body["isNewUser"] is False
    assert [i["sk"]["S"] for i in aws.items()].count("USER") == 1
