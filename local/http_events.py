"""API Gateway HTTP API (payload format 2.0) events and Lambda contexts, built as AWS builds them.

Shared by the tests and the local gateway so both invoke handlers with the
same event shape `sam local invoke -e events/*.json` would.
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qsl


def http_api_event(
    method: str,
    path: str,
    route_key: str | None = None,
    headers: dict | None = None,
    body: str | bytes | None = None,
    query: str = "",
    source_ip: str = "127.0.0.1",
    authorizer: dict | None = None,
    cookies: list[str] | None = None,
) -> dict:
    """An HTTP API v2 event: header names lower-cased, non-UTF-8 bodies base64-encoded, the request's cookies
    apart (`cookies`, as the gateway takes them out of the headers), and what a route's authorizer passed on
    (`{"jwt": {"claims", "scopes"}}`) when it has one."""
    lowered = {name.lower(): value for name, value in (headers or {}).items()}
    is_base64 = False
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            body, is_base64 = base64.b64encode(body).decode("ascii"), True
    now = time.time()
    event = {
        "version": "2.0",
        "routeKey": route_key or f"{method} {path}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": lowered.get("host", "localhost"),
            "domainPrefix": "localhost",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": route_key or f"{method} {path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": is_base64,
    }
    if query:
        # As API Gateway does: repeated parameters are joined with commas.
        parameters: dict[str, str] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
        event["queryStringParameters"] = parameters
    if cookies:
        event["cookies"] = cookies
    if body is not None:
        event["body"] = body
    if authorizer is not None:
        event["requestContext"]["authorizer"] = authorizer
    return event


def _epoch_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class LambdaContext:
    """The attributes of a Lambda context that Powertools and the handlers read. The invocation ends at
    `deadline_ms` (epoch milliseconds): its function's timeout after it started (`starting_now`), 10 s
    unless given."""

    function_name: str = "wxlogin-local"
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/wxlogin-local"
    log_stream_name: str = "local"
    deadline_ms: int = field(default_factory=lambda: _epoch_ms() + 10_000)

    @classmethod
    def starting_now(cls, timeout_seconds: float, **attributes) -> LambdaContext:
        """The context of an invocation starting now, in a function with this timeout."""
        return cls(deadline_ms=_epoch_ms() + int(timeout_seconds * 1000), **attributes)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        """As Lambda's: the milliseconds left before the invocation times out
        (https://docs.aws.amazon.com/lambda/latest/dg/python-context.html)."""
        return max(0, self.deadline_ms - _epoch_ms())
