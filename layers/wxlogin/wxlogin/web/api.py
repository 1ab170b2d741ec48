"""HTTP glue the handlers share: dispatch, each function's Powertools wiring, JSON answers, errors.

HttpFunction dispatches by the route API Gateway matched and turns any
exception into `{"error": {code, message}}` with the contract's status, logs it
once (with the request id the Logger carries) and never puts a stack trace or
an exception's own text in the answer. Requests are read in parsing.py and
route_requests.py. Powertools is imported inside the functions that use it, on
purpose: importing this module costs nothing until a Lambda function wires itself.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
import warnings

from wxlogin import aws
from wxlogin.config import pin_powertools_event_logging_off
from wxlogin.errors import InternalError, WeChatError, WeChatUnavailable, WxLoginError

JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store"}
# Kept back from the invocation's remaining time for answering once the last remote call gave up: the answer,
# its one log line and the metrics. Every remote wait of a request ends before `HttpFunction.deadline`.
ANSWER_MARGIN_SECONDS = 0.5
NOT_FOUND = {"error": {"code": "not_found", "message": "No such route."}}


def json_response(status: int, body: dict | None = None, headers: dict | None = None) -> dict:
    """A payload-2.0 answer; API Gateway turns it into the HTTP response."""
    if body is None:
        headers = {"Cache-Control": "no-store", **(headers or {})}
        return {"statusCode": status, "headers": headers, "body": "", "isBase64Encoded": False}
    text = json.dumps(body, ensure_ascii=False)
    headers = {**JSON_HEADERS, **(headers or {})}
    return {"statusCode": status, "headers": headers, "body": text, "isBase64Encoded": False}


def public_json_response(body: dict, max_age_seconds: int) -> dict:
    """A 200 any client or proxy may cache: published documents (the JWKS, discovery), never a user's data."""
    headers = {**JSON_HEADERS, "Cache-Control": f"public, max-age={max_age_seconds}"}
    return {"statusCode": 200, "headers": headers, "body": json.dumps(body), "isBase64Encoded": False}


def wechat_latency_metric(metrics):
    """A WeChatClient `on_call` that records each WeChat call's duration (the dashboard's WeChat latency)."""

    def record(milliseconds: float) -> None:
        metrics.add_metric(name="WeChatLatency", unit="Milliseconds", value=round(milliseconds, 1))

    return record


class HttpFunction:
    """One Lambda's routes, logger and metrics (and tracer, where the stack traces), wired the same way everywhere.

    API Gateway has already matched the request against template.yaml's routes
    and names the match in `routeKey`, so dispatch is one dictionary lookup: a
    router would match the path a second time, and Powertools' event_handler
    package imports every resolver it has (hundreds of modules) to do it. What
    its error handling gave is kept here: every exception becomes the
    contract's answer and exactly one log line carrying the request id.
    """

    def __init__(self, tracing: bool):
        pin_powertools_event_logging_off()
        from aws_lambda_powertools import Logger, Metrics
        from aws_lambda_powertools.logging import correlation_paths

        # At DEBUG these log request URLs and parameters: secret=, js_code=, sessionKey.
        for chatty in ("urllib3", "botocore", "boto3"):
            logging.getLogger(chatty).setLevel(logging.INFO)
        self.logger = Logger()
        self.metrics = Metrics()
        # Most requests publish no metric; Powertools would warn on stderr (one CloudWatch line) for each.
        warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
        self.routes: dict[str, object] = {}
        self.event: dict = {}
        self.context = None
        self.deadline = 0.0

        def lambda_handler(event, context):  # its name names the handler's X-Ray subsegment
            self.context = context
            # Lambda ends an invocation at the function's timeout, answering nothing of ours; its context says
            # how long is left (https://docs.aws.amazon.com/lambda/latest/dg/python-context.html).
            self.deadline = time.time() + context.get_remaining_time_in_millis() / 1000 - ANSWER_MARGIN_SECONDS
            aws.answer_by(self.deadline)
            try:
                return self._dispatch(event)
            finally:
                aws.answer_by(None)

        handler = self.metrics.log_metrics(lambda_handler)
        if tracing:
            # The X-Ray SDK is imported only here: most of its modules load even when tracing is disabled.
            from aws_lambda_powertools import Tracer

            # Only botocore is traced: traced WeChat calls would record jscode2session URLs, secret= included.
            handler = Tracer(patch_modules=("botocore",)).capture_lambda_handler(handler, capture_response=False)
        request_id = correlation_paths.API_GATEWAY_HTTP
        self.handler = self.logger.inject_lambda_context(handler, correlation_id_path=request_id)

    def route(self, *route_keys: str):
        """Register a handler for route keys as template.yaml declares them, e.g. `"GET /v1/me"`."""

        def register(handler):
            for key in route_keys:
                self.routes[key] = handler
            return handler

        return register

    def _dispatch(self, event: dict) -> dict:
        self.event = event
        handler = self.routes.get(event.get("routeKey"))
        try:
            return handler() if handler is not None else json_response(404, NOT_FOUND)
        except WxLoginError as exc:
            return self._refused(exc)
        except Exception as exc:
            # Frames only: an exception's text may hold a URL with secret= in it.
            frames = [f"{f.filename}:{f.lineno} {f.name}" for f in traceback.extract_tb(exc.__traceback__)]
            self.logger.error("unhandled error", extra={"error_type": type(exc).__name__, "frames": frames[-8:]})
            return json_response(500, InternalError().to_body())
        finally:
            self.event = {}

    def _refused(self, exc: WxLoginError) -> dict:
        extra = {"error_code": exc.code, "status": exc.status, "error_type": type(exc).__name__}
        if isinstance(exc, WeChatError | WeChatUnavailable):
            extra["wechat_errcode"] = getattr(exc, "errcode", None)
            self.metrics.add_metric(name="WeChatErrors", unit="Count", value=1)
        if exc.status >= 500:
            self.logger.error("request failed", extra=extra)
        else:
            self.logger.info("request refused", extra=extra)
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return json_response(exc.status, exc.to_body(), headers)
