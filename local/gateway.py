"""API Gateway's part of the local stack: for each request the front end (local/http_front.py) has read whole,
route it, throttle it, check its JWT authorizer, build the payload format 2.0 event, invoke the function and
answer what it returns.

- No route: 404 `{"message":"Not Found"}`, whatever the method (HEAD, OPTIONS or PUT included: no CORS is set).
- The route's throttle (local/throttles.py) empty: 429 `{"message":"Too Many Requests"}`.
- The event's headers as payload format 2.0 has them: names lower-cased, a repeated header's values joined with
  commas in arrival order, and the `cookie` headers taken out into `cookies`, one entry per cookie.
  https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
- The function crashed, timed out or was throttled (its reserved concurrency in use): 500
  `{"message":"Internal Server Error"}`, as API Gateway answers any invocation error of a Lambda integration.
  https://docs.aws.amazon.com/lambda/latest/dg/services-apigateway-errors.html
"""

from __future__ import annotations

import base64
import sys
import time
from dataclasses import dataclass, field

from local.http_events import http_api_event
from local.http_front import Answer, Request, gateway_answer
from local.iam_authorizer import IamRoutes
from local.jwt_authorizer import Denied, JwtRoutes
from local.throttles import TokenBucket


def event_headers(pairs: list[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    """(headers, cookies) of payload format 2.0 from the request's header lines."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in pairs:
        name = name.lower()
        if name == "cookie":
            cookies += [cookie.strip() for cookie in value.split(";") if cookie.strip()]
        else:
            headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers, cookies


@dataclass
class Gateway:
    routes: dict = field(default_factory=dict)  # (METHOD, path) -> the function (its instances)
    throttles: dict[tuple[str, str], TokenBucket] = field(default_factory=dict)
    jwt_routes: JwtRoutes = field(default_factory=lambda: JwtRoutes({}))
    iam_routes: IamRoutes = field(default_factory=lambda: IamRoutes(set(), {}, ""))
    quiet: bool = False

    def respond(self, request: Request) -> Answer:
        started = time.monotonic()
        path, _, query = request.target.partition("?")
        answer = self._answer(request, path, query)
        if not self.quiet:
            elapsed = (time.monotonic() - started) * 1000
            print(f"{request.method} {path} {answer.status} {elapsed:.0f}ms", file=sys.stderr, flush=True)
        return answer

    def _answer(self, request: Request, path: str, query: str) -> Answer:
        function = self.routes.get((request.method, path))
        if function is None:
            return gateway_answer(404, "Not Found")
        throttle = self.throttles.get((request.method, path))
        if throttle is not None and not throttle.take():
            return gateway_answer(429, "Too Many Requests")
        headers, cookies = event_headers(request.headers)
        try:
            authorizer = self.jwt_routes.authorize(request.method, path, headers)
            if authorizer is None:
                authorizer = self.iam_routes.authorize(request.method, path, query, headers, request.body)
        except Denied as denied:
            return Answer(denied.status, denied.headers, denied.body)
        event = http_api_event(
            request.method,
            path,
            headers=headers,
            body=request.body,
            query=query,
            source_ip=request.source_ip,
            authorizer=authorizer,
            cookies=cookies,
        )
        return function_answer(function.invoke(event, {"function_name": function.logical_id}))


def function_answer(result: dict | None) -> Answer:
    """What API Gateway answers for a payload format 2.0 result, or for an invocation that failed (None)."""
    if result is None:
        return gateway_answer(500, "Internal Server Error")
    text = result.get("body") or ""
    if result.get("isBase64Encoded"):
        text = base64.b64decode(text).decode("utf-8", "replace")
    return Answer(
        int(result.get("statusCode", 200)), dict(result.get("headers") or {}), text, list(result.get("cookies") or [])
    )
