"""Through the local stack, with the template's Timeout: a WeChat that hangs past the time an invocation has
gets the contract's 503, never API Gateway's 500 after Lambda ended the function; and the local worker ends
an invocation at its function's Timeout and counts its context down as Lambda does."""

from __future__ import annotations

import time

import pytest
import requests

from local.stack import DEV_APP_ID, LocalStack, Ports, Worker
from local.template import function_timeout, load_template
from wxlogin.aws import STORE_RESERVE_SECONDS
from wxlogin.web.api import ANSWER_MARGIN_SECONDS

TEMPLATE = load_template()
TIMEOUT = function_timeout(TEMPLATE, "LoginFunction")
# The moment WeChat's share of an invocation ends, counted from its start.
WECHAT_SHARE = TIMEOUT - ANSWER_MARGIN_SECONDS - STORE_RESERVE_SECONDS


@pytest.fixture(scope="module")
def stack():
    # A read timeout longer than the functions' Timeout (30 s, the most the configuration takes): one hung
    # WeChat call alone would then outlast the invocation; only its deadline ends it in time.
    overrides = {"WECHAT_READ_TIMEOUT_SECONDS": "30", "REFUSED_CODE_BUDGET": "0"}
    with LocalStack(ports=Ports(0, 0, 0), overrides=overrides, quiet=True) as running:
        yield running


def _sim(stack: LocalStack, path: str, body: dict) -> dict:
    answer = requests.post(stack.wechat.base_url + path, json=body, timeout=5)
    answer.raise_for_status()
    return answer.json()


def _timed(call) -> tuple[requests.Response, float]:
    started = time.monotonic()
    answer = call()
    return answer, time.monotonic() - started


def test_the_functions_share_one_timeout_that_leaves_wechat_most_of_it():
    assert {function_timeout(TEMPLATE, name) for name in ("LoginFunction", "ProfileFunction")} == {TIMEOUT}
    assert WECHAT_SHARE >= 2 * TIMEOUT / 3


def test_login_with_wechat_hung_past_the_timeout_is_503_in_time(stack):
    _sim(stack, "/_sim/reset", {})
    code = _sim(stack, "/_sim/login", {"appid": DEV_APP_ID, "user": "hung"})["code"]
    _sim(stack, "/_sim/faults", {"mode": "hang", "seconds": 60, "paths": ["/sns/jscode2session"]})
    answer, elapsed = _timed(lambda: requests.post(stack.api_url + "/v1/auth/login", json={"code": code}, timeout=60))
    assert answer.status_code == 503, answer.text
    assert answer.json() == {"error": {"code": "wechat_unavailable", "message": "WeChat is unavailable; retry later."}}
    assert WECHAT_SHARE - 1 <= elapsed < TIMEOUT - ANSWER_MARGIN_SECONDS


def test_phone_by_code_with_wechat_hung_past_the_timeout_is_503_in_time(stack):
    _sim(stack, "/_sim/reset", {})
    code = _sim(stack, "/_sim/login", {"appid": DEV_APP_ID, "user": "phone-hung"})["code"]
    login = requests.post(stack.api_url + "/v1/auth/login", json={"code": code}, timeout=30).json()
    phone_code = _sim(stack, "/_sim/phone-code", {"appid": DEV_APP_ID, "openid": login["openid"]})["code"]
    _sim(stack, "/_sim/faults", {"mode": "hang", "seconds": 60, "paths": ["/wxa/business/getuserphonenumber"]})
    headers = {"Authorization": f"Bearer {login['token']}"}
    answer, elapsed = _timed(
        lambda: requests.post(
            stack.api_url + "/v1/profile/phone", json={"code": phone_code}, headers=headers, timeout=60
        )
    )
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "wechat_unavailable", answer.text
    assert elapsed < TIMEOUT - ANSWER_MARGIN_SECONDS
    me = requests.get(stack.api_url + "/v1/me", headers=headers, timeout=30).json()
    assert me["phone"] is None


SLOW_FUNCTION = """
import time


def handler(event, context):
    left = context.get_remaining_time_in_millis()
    time.sleep(event.get("sleep", 0))
    return {"statusCode": 200, "body": str(left)}
"""


def test_the_local_worker_counts_down_and_ends_an_invocation_at_its_timeout(tmp_path):
    (tmp_path / "app.py").write_text(SLOW_FUNCTION)
    worker = Worker("Slow", str(tmp_path), "app.handler", {}, timeout=1.0)
    try:
        answer = worker.invoke({}, {"function_name": "Slow"})
        assert 500 < int(answer["body"]) <= 1000  # what Lambda's context says: the time left of the 1 s
        ended, elapsed = _timed(lambda: worker.invoke({"sleep": 5}, {"function_name": "Slow"}))
        assert ended is None and elapsed < 2  # ended at its timeout: the gateway answers API Gateway's 500
        assert int(worker.invoke({}, {"function_name": "Slow"})["body"]) > 500  # a fresh instance serves next
    finally:
        worker.stop()


def test_each_function_runs_with_its_own_timeout():
    assert (
        function_timeout(TEMPLATE, "WhoAmIFunction") == TEMPLATE["Resources"]["WhoAmIFunction"]["Properties"]["Timeout"]
    )
    assert TIMEOUT == TEMPLATE["Globals"]["Function"]["Timeout"]
