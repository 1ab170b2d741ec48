"""The local stack behaving as API Gateway and Lambda do, over real HTTP: the template's route throttles,
several instances per function with reserved concurrency enforced, and HTTP read as API Gateway's front end
reads it (chunked bodies, lengths that lie, repeated headers, heads over the quota)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest
import requests

from local.stack import DEV_APP_ID, LocalStack, Ports, StartupError

LOGIN, ME, LOGOUT = "/v1/auth/login", "/v1/me", "/v1/auth/logout"
HANG_SECONDS = 2.0


@pytest.fixture(scope="module")
def stack():
    overrides = {
        "REFUSED_CODE_BUDGET": "0",
        # WeChat may hang for HANG_SECONDS and still answer in time: the slow requests below are slow, not failed.
        "WECHAT_READ_TIMEOUT_SECONDS": "5",
        "LOCAL_INSTANCES": "3",
        "ReservedConcurrency": "2",  # the template parameter, from the shell as `ReservedConcurrency=2 make run`
    }
    running = LocalStack(ports=Ports(0, 0, 0), overrides=overrides, quiet=True)
    # The logout route throttled as a RouteSettings entry throttles it: 3 at once, then one per 2 s.
    running.template["Resources"]["HttpApi"]["Properties"]["RouteSettings"] = {
        f"POST {LOGOUT}": {"ThrottlingBurstLimit": 3, "ThrottlingRateLimit": 0.5}
    }
    with running:
        yield running


def _sim(stack, path: str, body: dict) -> dict:
    answer = requests.post(stack.wechat.base_url + path, json=body, timeout=5)
    answer.raise_for_status()
    return answer.json()


def _code(stack, user: str) -> str:
    return _sim(stack, "/_sim/login", {"appid": DEV_APP_ID, "user": user})["code"]


def _login(stack, user: str) -> requests.Response:
    return requests.post(stack.api_url + LOGIN, json={"code": _code(stack, user)}, timeout=30)


def _together(calls) -> list:
    """Run the calls at the same instant on their own threads; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _hang_wechat(stack, count: int) -> None:
    """The next `count` code exchanges wait HANG_SECONDS, then answer busy; the function's retry then succeeds."""
    _sim(
        stack,
        "/_sim/faults",
        {"count": count, "mode": "hang", "seconds": HANG_SECONDS, "errcode": -1, "paths": ["/sns/jscode2session"]},
    )


def test_a_route_past_its_burst_gets_api_gateways_429_and_its_tokens_come_back(stack):
    url = stack.api_url + LOGOUT
    answers = [requests.post(url, timeout=30) for _ in range(4)]
    assert [answer.status_code for answer in answers] == [401, 401, 401, 429]
    throttled = answers[-1]
    assert throttled.headers["content-type"] == "application/json"
    assert throttled.content == b'{"message":"Too Many Requests"}'
    # Another route keeps its own bucket (the stage default), untouched by this one's.
    assert requests.get(stack.api_url + ME, timeout=30).status_code == 401
    time.sleep(2.2)  # one token back at 0.5/s
    assert [requests.post(url, timeout=30).status_code for _ in range(2)] == [401, 429]


def test_parallel_requests_run_on_different_instances_at_once(stack):
    login = stack.workers["LoginFunction"]
    _hang_wechat(stack, 2)
    _together([lambda: _login(stack, "warm-1"), lambda: _login(stack, "warm-2")])  # both instances started
    _hang_wechat(stack, 2)
    started = time.monotonic()
    answers = _together([lambda: _login(stack, "par-1"), lambda: _login(stack, "par-2")])
    elapsed = time.monotonic() - started
    assert [answer.status_code for answer in answers] == [200, 200]
    assert elapsed < HANG_SECONDS * 1.75, f"two slow logins took {elapsed:.1f}s: they ran one after the other"
    pids = {worker.process.pid for worker in login.instances if worker.process is not None}
    assert len(pids) >= 2  # each instance its own process, as each Lambda instance is its own sandbox


def test_past_the_reserved_concurrency_the_function_is_throttled_and_the_gateway_answers_500(stack):
    _hang_wechat(stack, 2)
    # Two in flight fill the reserved concurrency (2); the third, released with them, is refused at once.
    results = _together([lambda user=user: _timed_login(stack, user) for user in ("rc-1", "rc-2", "rc-3")])
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [200, 200, 500]
    status, body, elapsed = next(result for result in results if result[0] == 500)
    assert body == b'{"message":"Internal Server Error"}' and elapsed < HANG_SECONDS


def _timed_login(stack, user: str) -> tuple[int, bytes, float]:
    code = _code(stack, user)
    started = time.monotonic()
    answer = requests.post(stack.api_url + LOGIN, json={"code": code}, timeout=30)
    return answer.status_code, answer.content, time.monotonic() - started


def _raw_request(stack, method: str, path: str, headers: list[tuple[str, str]], body: bytes = b"") -> tuple[int, dict]:
    """A request with exactly these header lines, repeats included (requests would merge them)."""
    address = urlsplit(stack.api_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        connection.endheaders(body or None)
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read() or b"{}")
    finally:
        connection.close()


def test_a_chunked_login_body_is_read(stack):
    body = json.dumps({"code": _code(stack, "chunky")}).encode()
    answer = requests.post(
        stack.api_url + LOGIN,
        data=iter([body[:5], body[5:]]),  # a generator body: requests sends it chunked
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert answer.request.headers.get("transfer-encoding") == "chunked"
    assert answer.status_code == 200 and answer.json()["token"]


def test_two_authorization_headers_are_joined_and_refused_instead_of_the_last_one_winning(stack):
    token = _login(stack, "twice").json()["token"]
    valid = ("Authorization", f"Bearer {token}")
    junk = ("Authorization", "Bearer not-a-token")
    assert _raw_request(stack, "GET", ME, [valid])[0] == 200
    for headers in ([junk, valid], [valid, junk]):
        status, body = _raw_request(stack, "GET", ME, headers)
        assert status == 401 and body["error"]["code"] == "unauthorized"


def test_a_head_over_api_gateways_quota_is_answered_431(stack):
    answer = requests.get(stack.api_url + ME, headers={"Authorization": "Bearer " + "a" * 10_300}, timeout=30)
    assert answer.status_code == 431 and answer.json() == {"message": "Request Header Fields Too Large"}


def test_a_body_shorter_than_its_content_length_is_answered_400_at_once(stack):
    address = urlsplit(stack.api_url)
    with socket.create_connection((address.hostname, address.port)) as client:
        client.sendall(f"POST {LOGIN} HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n{{}}".encode())
        client.shutdown(socket.SHUT_WR)
        client.settimeout(5)
        started, received = time.monotonic(), b""
        while chunk := client.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 400 ") and received.endswith(b'{"message":"Bad Request"}')
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "LOCAL_INSTANCES",
            "0",
            "LOCAL_INSTANCES must be a whole number of instances per function (1 or more), got '0'",
        ),
        ("LoginRateLimit", "fast", "LoginRateLimit must be a number, got 'fast'"),
        ("ReservedConcurrency", "-1", "ReservedConcurrency must be at least 0, got '-1'"),
    ],
)
def test_a_local_setting_or_template_parameter_out_of_range_stops_the_start_before_anything_runs(
    variable, value, message
):
    stack = LocalStack(ports=Ports(0, 0, 0), overrides={variable: value}, quiet=True)
    with pytest.raises(StartupError) as refused:
        stack.start()
    assert str(refused.value) == message
    assert stack.moto is None and stack.gateway is None
