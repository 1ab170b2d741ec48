"""HTTP glue the handlers share: request parsing and the contract's error answers.

Parsing turns a payload-2.0 event into validated values or an InvalidRequest;
HttpFunction dispatches by the route API Gateway matched and turns any
exception into `{"error": {code, message}}` with the contract's status, logs it
once (with the request id the Logger carries) and never puts a stack trace or
an exception's own text in the answer.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import time
import traceback
import warnings

from .crypto import BLOCK_SIZE, b64decode_strict
from .errors import InternalError, InvalidRequest, WeChatError, WeChatUnavailable, WxLoginError
from .store import User, UserStore
from .tokens import TokenRef, bearer_token
from .userdata import EncryptedPayload

MAX_BODY_BYTES = 32 * 1024
MAX_JSON_DEPTH = 20
CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store"}


def _header(event, name: str) -> str | None:
    return (event.get("headers") or {}).get(name)


def json_body(event, required: bool = True) -> dict:
    """The request's JSON object; an absent body is `{}` only where the route takes none."""
    raw = event.get("body")
    if raw is None or raw == "":
        if required:
            raise InvalidRequest("A JSON body is required.")
        return {}
    content_type = (_header(event, "content-type") or "application/json").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise InvalidRequest("Content-Type must be application/json.")
    if len(raw) > MAX_BODY_BYTES * 4 // 3 + 4:
        raise InvalidRequest("The body is larger than 32 KiB.")
    try:
        data = base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else raw.encode("utf-8")
    except (binascii.Error, UnicodeEncodeError):
        raise InvalidRequest("The body is not valid UTF-8 JSON.") from None
    if len(data) > MAX_BODY_BYTES:
        raise InvalidRequest("The body is larger than 32 KiB.")
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidRequest("The body is not valid UTF-8 JSON.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    if _depth(body) > MAX_JSON_DEPTH:
        raise InvalidRequest("The body is nested too deeply.")
    return body


def _depth(value) -> int:
    """Nesting depth, without recursion: json.loads accepts nesting deep enough to exhaust Python's stack."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        current, level = pending.pop()
        deepest = max(deepest, level)
        if level > MAX_JSON_DEPTH:
            break
        children = current.values() if isinstance(current, dict) else current if isinstance(current, list) else ()
        pending.extend((child, level + 1) for child in children)
    return deepest


def string_field(body: dict, name: str, required: bool = True, max_length: int = 4096, pattern=None) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidRequest(f"{name} is required.")
        return None
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise InvalidRequest(f"{name} must be a non-empty string of at most {max_length} characters.")
    if pattern is not None and not pattern.fullmatch(value):
        raise InvalidRequest(f"{name} is malformed.")
    return value


def _base64_field(body: dict, name: str) -> bytes:
    value = string_field(body, name, max_length=MAX_BODY_BYTES)
    try:
        return b64decode_strict(value)
    except ValueError:
        raise InvalidRequest(f"{name} must be standard base64.") from None


def encrypted_payload(body: dict) -> EncryptedPayload:
    """`encryptedData`, `iv` and the optional `rawData`/`signature`, checked for shape (not yet for the key)."""
    ciphertext = _base64_field(body, "encryptedData")
    iv = _base64_field(body, "iv")
    if len(iv) != BLOCK_SIZE:
        raise InvalidRequest("iv must decode to 16 bytes.")
    if len(ciphertext) % BLOCK_SIZE:
        raise InvalidRequest("encryptedData must decode to whole 16-byte blocks.")
    raw_data = string_field(body, "rawData", required=False, max_length=MAX_BODY_BYTES)
    signature = string_field(body, "signature", required=False, max_length=128)
    if (raw_data is None) != (signature is None):
        raise InvalidRequest("rawData and signature go together.")
    return EncryptedPayload(ciphertext=ciphertext, iv=iv, raw_data=raw_data, signature=signature)


def has_encrypted_payload(body: dict) -> bool:
    return any(body.get(name) is not None for name in ("encryptedData", "iv", "rawData", "signature"))


def idempotency_key(event) -> str | None:
    value = _header(event, "idempotency-key")
    if value is None:
        return None
    if not IDEMPOTENCY_KEY_PATTERN.fullmatch(value):
        raise InvalidRequest("Idempotency-Key must be 16 to 128 characters of A-Z, a-z, 0-9, '-' or '_'.")
    return value


def token_ref(event) -> TokenRef:
    return bearer_token(_header(event, "authorization"))


def authenticate(event, store: UserStore) -> tuple[User, TokenRef]:
    """The user behind the request's bearer token, or Unauthorized."""
    ref = token_ref(event)
    return store.authenticate(ref, time.time()), ref


NOT_FOUND = {"error": {"code": "not_found", "message": "No such route."}}


def json_response(status: int, body: dict | None = None) -> dict:
    """A payload-2.0 answer; API Gateway turns it into the HTTP response."""
    if body is None:
        return {"statusCode": status, "headers": {"Cache-Control": "no-store"}, "body": "", "isBase64Encoded": False}
    text = json.dumps(body, ensure_ascii=False)
    return {"statusCode": status, "headers": dict(JSON_HEADERS), "body": text, "isBase64Encoded": False}


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

        def lambda_handler(event, context):  # its name names the handler's X-Ray subsegment
            return self._dispatch(event)

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
        return json_response(exc.status, exc.to_body())
