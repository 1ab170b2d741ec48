"""HTTP glue the handlers share: request parsing and the contract's error answers.

Parsing turns a payload-2.0 event into validated values or an InvalidRequest;
the error handlers turn any exception into `{"error": {code, message}}` with
the contract's status, log it once (with the request id the Logger carries)
and never put a stack trace or an exception's own text in the answer.
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


def json_response(status: int, body: dict | None = None):
    from aws_lambda_powertools.event_handler import Response

    if body is None:
        return Response(status_code=status, headers={"Cache-Control": "no-store"}, body="")
    return Response(status_code=status, headers=JSON_HEADERS, body=json.dumps(body, ensure_ascii=False))


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
        return json_response(exc.status, exc.to_body())

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
