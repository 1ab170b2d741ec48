"""No remote wait outlasts the invocation: WeChat, DynamoDB and Secrets Manager are bounded by the time Lambda
has left, so the client gets the contract's 503 and one log line instead of API Gateway's 500 after a timeout.

The handlers run with a short remaining time (the Lambda context's), against the simulator's hang and slow
modes and a DynamoDB endpoint that never answers; the local stack's own test (tests/e2e/test_deadlines.py)
does the same with the template's Timeout.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time

import boto3
import pytest
from botocore.config import Config

from tests.support.inprocess import rewire
from tests.support.values import APP_SECRET, APPID, OPENID
from wxlogin import aws as wxlogin_aws
from wxlogin.aws import ATTEMPT_SECONDS, FAIL_FAST, STORE_RESERVE_SECONDS, bound_by_deadline
from wxlogin.errors import OutOfTime, WeChatOutOfTime, WeChatUnavailable
from wxlogin.web.api import ANSWER_MARGIN_SECONDS
from wxlogin.wechat.client import WeChatClient
from wxlogin.wechat.errors import WeChatApiError

LOGIN, PHONE = "/v1/auth/login", "/v1/profile/phone"
# An invocation with this much left gives WeChat one second: what is left after the answer's margin and the
# time kept to store WeChat's answer.
REMAINING = ANSWER_MARGIN_SECONDS + STORE_RESERVE_SECONDS + 1.0


def _one_error_line(logs) -> dict:
    errors = logs.at_least(logging.ERROR)
    assert len(errors) == 1, errors
    line = json.loads(errors[0])
    assert line["function_request_id"] and line["correlation_id"]
    return line


def _client(wechat) -> WeChatClient:
    return WeChatClient(wechat.base_url, connect_timeout=0.5, read_timeout=1.0, busy_retries=2)


def _exchange(client: WeChatClient, wechat, deadline: float | None):
    return client.code_to_session(APPID, APP_SECRET, wechat.login_code(), deadline)


# --- The WeChat client alone ------------------------------------------------------------------------------------


def test_busy_answers_that_would_run_past_the_deadline_stop_at_it(wechat):
    wechat.reset()
    wechat.fault(mode="hang", seconds=0.4, errcode=-1, count=5)  # slow "system busy": retried
    started = time.time()
    with pytest.raises(WeChatOutOfTime):
        _exchange(_client(wechat), wechat, started + 1.0)
    # Three attempts would take 1.2 s and more: the third is cut to what is left, or not made when the pause
    # before it leaves too little.
    assert 0.8 <= time.time() - started < 1.1
    assert wechat.stats()["jscode2session"] in (2, 3)


def test_a_slow_answer_inside_the_deadline_is_taken(wechat):
    wechat.reset()
    wechat.fault(mode="slow", seconds=0.6)
    started = time.time()
    assert _exchange(_client(wechat), wechat, started + 1.0).openid
    assert 0.6 <= time.time() - started < 1.0


def test_a_hang_past_the_deadline_ends_at_it_not_at_the_read_timeout(wechat):
    wechat.reset()
    wechat.fault(mode="hang", seconds=5)
    started = time.time()
    with pytest.raises(WeChatOutOfTime):
        _exchange(_client(wechat), wechat, started + 0.4)
    assert 0.4 <= time.time() - started < 0.7  # the read timeout is 1 s


def test_without_time_for_an_attempt_nothing_is_sent(wechat):
    wechat.reset()
    with pytest.raises(WeChatOutOfTime):
        _exchange(_client(wechat), wechat, time.time() + 0.05)
    assert wechat.stats()["jscode2session"] == 0


def test_a_hang_within_the_time_left_is_still_the_read_timeouts_503(wechat):
    wechat.reset()
    wechat.fault(mode="hang", seconds=5)
    with pytest.raises(WeChatUnavailable) as raised:
        _exchange(_client(wechat), wechat, time.time() + 10)
    assert type(raised.value) is WeChatUnavailable


# --- AWS clients ------------------------------------------------------------------------------------------------


class _Silent:
    """A TCP endpoint that accepts connections and never answers: a DynamoDB that hangs."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.accepted.append(connection)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.getsockname()[1]}"

    def close(self):
        self.server.close()
        for connection in self.accepted:
            connection.close()


@pytest.fixture
def silent():
    endpoint = _Silent()
    yield endpoint
    endpoint.close()
    wxlogin_aws.answer_by(None)


def _hanging_dynamodb(silent: _Silent):
    """A client as the layer makes them (FAIL_FAST, bound by the deadline) on an endpoint that never answers."""
    client = boto3.client("dynamodb", endpoint_url=silent.url, config=Config(**FAIL_FAST))
    bound_by_deadline(client)
    return client


def test_no_aws_attempt_starts_that_could_not_end_in_time(silent):
    client = _hanging_dynamodb(silent)
    wxlogin_aws.answer_by(time.time() + ATTEMPT_SECONDS - 0.5)
    started = time.time()
    with pytest.raises(OutOfTime):
        client.get_item(TableName="t", Key={"pk": {"S": "p"}, "sk": {"S": "s"}})
    assert time.time() - started < 0.2 and silent.accepted == []


def test_botocore_retries_only_while_they_fit(silent):
    """botocore would try three times (three read timeouts and its backoff, over 6 s); with 4 s left the first
    attempt runs out its read timeout and no retry follows."""
    from botocore.exceptions import ReadTimeoutError

    client = _hanging_dynamodb(silent)
    started = time.time()
    wxlogin_aws.answer_by(started + ATTEMPT_SECONDS + 1)
    with pytest.raises(ReadTimeoutError):
        client.get_item(TableName="t", Key={"pk": {"S": "p"}, "sk": {"S": "s"}})
    assert FAIL_FAST["read_timeout"] <= time.time() - started < ATTEMPT_SECONDS + 1
    assert len(silent.accepted) == 1


def test_a_dynamodb_that_hangs_at_login_is_503_before_the_invocation_ends(api, aws, wechat, monkeypatch, logs, silent):
    module = api.module(*api.function("LoginFunction"))
    rewire(monkeypatch, module, "LoginFunction", dynamodb=_hanging_dynamodb(silent))
    started = time.time()
    answer = api.post(LOGIN, {"code": wechat.login_code()}, timeout=REMAINING)
    assert time.time() - started < REMAINING - ANSWER_MARGIN_SECONDS
    assert answer.status == 503 and answer.body["error"]["code"] == "service_unavailable"
    assert _one_error_line(logs)["error_code"] == "service_unavailable"
    assert aws.items() == []


# --- Through the handlers, with the time Lambda says is left ----------------------------------------------------


def test_login_answers_503_when_wechat_stays_busy_past_the_time_left(api, aws, wechat, logs):
    wechat.fault(mode="hang", seconds=0.8, errcode=-1, count=10, paths=["/sns/jscode2session"])
    started = time.time()
    answer = api.post(LOGIN, {"code": wechat.login_code()}, timeout=REMAINING)
    elapsed = time.time() - started
    assert answer.status == 503 and answer.body["error"]["code"] == "wechat_unavailable"
    # WeChat's share ended in time to store an answer it might have given.
    assert 0.75 <= elapsed < REMAINING - STORE_RESERVE_SECONDS
    line = _one_error_line(logs)
    assert line["error_type"] == "WeChatOutOfTime" and line["message"] == "request failed"
    assert aws.items() == []


def test_login_takes_a_slow_answer_that_comes_in_time_and_stores_it(api, aws, wechat):
    wechat.fault(mode="slow", seconds=0.7, paths=["/sns/jscode2session"])
    answer = api.post(LOGIN, {"code": wechat.login_code()}, timeout=REMAINING)
    assert answer.status == 200, answer.body
    assert {item["sk"]["S"][:7] for item in aws.items()} == {"USER", "SESSION"}


def test_a_keyed_login_cut_short_leaves_its_retry_answered_at_once(api, aws, wechat, logs):
    wechat.fault(mode="hang", seconds=5, paths=["/sns/jscode2session"])
    code, key = wechat.login_code(), {"Idempotency-Key": "5f0c8a7e2b9d4c1e8a6f3b2d1c0e9f8a"}
    answer = api.post(LOGIN, {"code": code}, headers=key, timeout=REMAINING)
    assert answer.status == 503 and answer.body["error"]["code"] == "wechat_unavailable"
    started = time.time()
    retried = api.post(LOGIN, {"code": code}, headers=key, timeout=REMAINING)
    assert retried.status == 401 and time.time() - started < 0.5  # no wait for a login that already failed


def test_phone_by_code_answers_503_when_wechat_hangs_past_the_time_left(api, aws, wechat, login, logs):
    me = login()
    stored = aws.items()
    wechat.fault(mode="hang", seconds=5, paths=["/wxa/business/getuserphonenumber"])
    started = time.time()
    answer = api.post(PHONE, {"code": wechat.phone_code(OPENID)}, token=me.token, timeout=REMAINING)
    elapsed = time.time() - started
    assert answer.status == 503 and answer.body["error"]["code"] == "wechat_unavailable"
    assert elapsed < REMAINING - STORE_RESERVE_SECONDS
    line = _one_error_line(logs)
    assert line["error_type"] == "WeChatOutOfTime"
    user = next(item for item in aws.items() if item["sk"]["S"] == "USER")
    assert "phoneNumber" not in user
    assert [item for item in aws.items() if not item["pk"]["S"].startswith("APP#")] == stored


def test_phone_by_code_answers_503_when_the_access_token_refresh_is_slow_and_busy(api, aws, wechat, login, logs):
    me = login()
    wechat.fault(mode="hang", seconds=0.8, errcode=-1, count=10, paths=["/cgi-bin/stable_token"])
    answer = api.post(PHONE, {"code": wechat.phone_code(OPENID)}, token=me.token, timeout=REMAINING)
    assert answer.status == 503 and answer.body["error"]["code"] == "wechat_unavailable"
    assert _one_error_line(logs)["error_type"] == "WeChatOutOfTime"
    assert wechat.stats()["getuserphonenumber"] == 0


def test_each_wechat_call_reports_its_latency_retries_included(wechat):
    wechat.reset()
    heard: list[float] = []
    client = WeChatClient(wechat.base_url, 0.5, 1.0, 2, on_call=heard.append)
    wechat.fault(mode="slow", seconds=0.2)
    assert _exchange(client, wechat, time.time() + 5).openid
    wechat.fault(errcode=-1, count=1)  # one busy answer, then the retry's
    assert _exchange(client, wechat, time.time() + 5).openid
    wechat.fault(errcode=40029, count=1)
    with pytest.raises(WeChatApiError):
        _exchange(client, wechat, time.time() + 5)
    assert len(heard) == 3 and heard[0] >= 200  # one figure per call, failed ones too
