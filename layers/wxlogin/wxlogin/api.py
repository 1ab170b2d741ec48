"""HTTP glue the handlers share: each function's Powertools wiring, JSON answers, the error handlers.

The error handlers turn any exception into `{"error": {code, message}}` with the contract's
status, log it once (with the request id the Logger carries) and never put a stack trace or an
exception's own text in the answer. Requests are read in parsing.py and route_requests.py.
Powertools is imported inside the functions that use it, on purpose: importing this module
costs nothing until a Lambda function wires itself.
"""

from __future__ import annotations

import json
import logging
import traceback
import warnings

from .config import pin_powertools_event_logging_off
from .errors import InternalError, WeChatError, WeChatUnavailable, WxLoginError

JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store"}


def json_response(status: int, body: dict | None = None, headers: dict | None = None):
    from aws_lambda_powertools.event_handler import Response

    if body is None:
        return Response(status_code=status, headers={"Cache-Control": "no-store", **(headers or {})}, body="")
    body_text = json.dumps(body, ensure_ascii=False)
    return Response(status_code=status, headers={**JSON_HEADERS, **(headers or {})}, body=body_text)


def install_error_handlers(app, logger, metrics) -> None:
    """Every exception becomes the contract's answer and exactly one log line."""

    @app.exception_handler(WxLoginError)
    def _domain_error(exc: WxLoginError):
        extra = {"error_code": exc.code, "status": exc.status, "error_type": type(exc).__name__}
        if isinstance(exc, WeChatError | WeChatUnavailable):
            extra["wechat_errcode"] = getattr(exc, "errcode", None)
            metrics.add_metric(name="WeChatErrors", unit="Count", value=1)
        if exc.status >= 500:
            logger.error("request failed", extra=extra)
        else:
            logger.info("request refused", extra=extra)
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return json_response(exc.status, exc.to_body(), headers)

    @app.exception_handler(Exception)
    def _bug(exc: Exception):
        # Frames only: an exception's text may hold a URL with secret= in it.
        frames = [f"{f.filename}:{f.lineno} {f.name}" for f in traceback.extract_tb(exc.__traceback__)]
        logger.error("unhandled error", extra={"error_type": type(exc).__name__, "frames": frames[-8:]})
        return json_response(500, InternalError().to_body())

    @app.not_found
    def _no_route(_exc):
        return json_response(404, {"error": {"code": "not_found", "message": "No such route."}})


class HttpFunction:
    """One Lambda's router, logger, tracer and metrics, wired the same way in every function."""

    def __init__(self):
        pin_powertools_event_logging_off()
        from aws_lambda_powertools import Logger, Metrics, Tracer
        from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
        from aws_lambda_powertools.logging import correlation_paths

        # At DEBUG these log request URLs and parameters: secret=, js_code=, sessionKey.
        for chatty in ("urllib3", "botocore", "boto3"):
            logging.getLogger(chatty).setLevel(logging.INFO)
        self.logger = Logger()
        # Only botocore is traced: a traced `requests` would record jscode2session URLs, secret= included.
        self.tracer = Tracer(patch_modules=("botocore",))
        self.metrics = Metrics()
        # Most requests publish no metric; Powertools would warn on stderr (one CloudWatch line) for each.
        warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
        self.app = APIGatewayHttpResolver()
        install_error_handlers(self.app, self.logger, self.metrics)

        @self.logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
        @self.tracer.capture_lambda_handler(capture_response=False)
        @self.metrics.log_metrics
        def lambda_handler(event, context):
            return self.app.resolve(event, context)

        self.handler = lambda_handler

    @property
    def event(self) -> dict:
        return self.app.current_event.raw_event
