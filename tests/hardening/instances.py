"""Several instances of one of the local stack's functions, and requests released at the same instant.

The local gateway serves each function from one process, one request at a time, as a single Lambda
instance would; under load Lambda runs many. So the race tests start extra instances of a function (the
same worker, environment, moto table and WeChat simulator as the stack's own) and release their
requests together with a barrier. In-process handlers would not do: a function's router keeps the
current event on a module-level object, so threads would share it.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local.http_events import http_api_event
from local.stack import Worker

LOGIN, ME, LOGOUT = "/v1/auth/login", "/v1/me", "/v1/auth/logout"
# The local stack's operator credentials (local/iam_authorizer.py checks the admin routes' SigV4 against them).
OPERATOR_KEYS = Credentials("local", "local")


class Instances:
    """`count` warm instances of one of the stack's functions (environment: variables changed for these alone)."""

    def __init__(self, stack, logical_id: str, count: int, timeout: float | None = None, **environment):
        model = stack.stack.workers[logical_id]
        self.logical_id = logical_id
        environment = {**model.environment, **environment}
        timeout = model.timeout if timeout is None else timeout
        self.workers = [
            Worker(model.logical_id, model.code_uri, model.handler, environment, timeout) for _ in range(count)
        ]
        with ThreadPoolExecutor(count) as pool:
            list(pool.map(Worker.warm, self.workers))

    def invoke(
        self, index: int, method: str, path: str, token=None, body=None, headers=None, source_ip="127.0.0.1"
    ) -> tuple[int, dict]:
        headers = dict(headers or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(body)
        event = http_api_event(method, path, headers=headers, body=body, source_ip=source_ip)
        result = self.workers[index % len(self.workers)].invoke(event, {"function_name": self.logical_id})
        # None is a crash or the function's timeout: a request that stalled gets no answer at all.
        assert result is not None, f"{self.logical_id} crashed or timed out on {method} {path}"
        text = result.get("body") or ""
        return result["statusCode"], json.loads(text) if text else {}

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()


def together(*calls):
    """Run the calls on their own threads, released at the same instant; their results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def operator(stack, action: str, body: dict) -> dict:
    """An admin action (find, signout, erase...) signed with SigV4 as an operator sends it; its answer."""
    url = f"{stack.api_url}/admin/users/{action}"
    data = json.dumps(body).encode()
    request = AWSRequest(method="POST", url=url, data=data, headers={"Content-Type": "application/json"})
    SigV4Auth(OPERATOR_KEYS, "execute-api", "us-east-1").add_auth(request)
    answer = requests.post(url, data=data, headers=dict(request.headers.items()), timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()
