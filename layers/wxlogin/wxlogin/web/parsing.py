"""Reading a payload-2.0 event: its JSON body within limits, its headers and fields, or InvalidRequest.

The typed requests of each route (route_requests.py) are built from these; each rule a field
has lives in exactly one of the two modules.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

from wxlogin.errors import InvalidRequest
from wxlogin.keys.crypto import BLOCK_SIZE, b64decode_strict
from wxlogin.keys.tokens import TokenRef, bearer_token
from wxlogin.services.userdata import EncryptedPayload

MAX_BODY_BYTES = 32 * 1024
MAX_JSON_DEPTH = 20
MAX_CODE_LENGTH = 128
CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
# At least 128 bits: 32 hex digits, or 22 characters of the base64url alphabet (the shipped client sends
# 32 hex digits of wx.getRandomValues). What no random value of that size looks like is refused too: fewer
# than 5 distinct characters, one character filling over half the key, or a key made by a repeated step.
# 32 random hex digits do any of these with a chance below 1e-9, so no honest client is refused.
IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{22,128}$")
HEX_KEY_PATTERN = re.compile(r"^[0-9a-fA-F]+$")
MIN_HEX_KEY_LENGTH = 32
MIN_KEY_DISTINCT_CHARACTERS = 5
MAX_KEY_CHARACTER_SHARE = 0.5
ENCRYPTED_FIELDS = ("encryptedData", "iv", "rawData", "signature")


def header(event, name: str) -> str | None:
    return (event.get("headers") or {}).get(name)


def query_parameter(event, name: str) -> str | None:
    return (event.get("queryStringParameters") or {}).get(name)


def json_body(event, required: bool = True) -> dict:
    """The request's JSON object; an absent body is `{}` only where the route takes none."""
    raw = event.get("body")
    if raw is None or raw == "":
        if required:
            raise InvalidRequest("A JSON body is required.")
        return {}
    content_type = (header(event, "content-type") or "application/json").split(";")[0].strip().lower()
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


def code_field(body: dict) -> str:
    """A one-time WeChat code (wx.login's or the getPhoneNumber button's)."""
    return string_field(body, "code", max_length=MAX_CODE_LENGTH, pattern=CODE_PATTERN)


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
    return any(body.get(name) is not None for name in ENCRYPTED_FIELDS)


def idempotency_key(event) -> str | None:
    value = header(event, "idempotency-key")
    if value is None:
        return None
    if (
        not IDEMPOTENCY_KEY_PATTERN.fullmatch(value)
        or (HEX_KEY_PATTERN.fullmatch(value) and len(value) < MIN_HEX_KEY_LENGTH)
        or not _looks_random(value)
    ):
        raise InvalidRequest(
            "Idempotency-Key must be a random value of at least 128 bits: 32 to 128 hex digits, or 22 to 128 "
            "characters of A-Z, a-z, 0-9, '-' or '_'."
        )
    return value


def _looks_random(key: str) -> bool:
    if len(set(key)) < MIN_KEY_DISTINCT_CHARACTERS:
        return False
    if max(key.count(ch) for ch in set(key)) > MAX_KEY_CHARACTER_SHARE * len(key):
        return False
    # A key whose steps from one character to the next repeat with a period p (a repeated pattern, the
    # alphabet, every other letter) has no more bits than its first p + 1 characters.
    steps = [ord(b) - ord(a) for a, b in zip(key, key[1:], strict=False)]
    return not any(steps[p:] == steps[:-p] for p in range(1, len(key) // 2 + 1))


def token_ref(event) -> TokenRef:
    return bearer_token(header(event, "authorization"))
