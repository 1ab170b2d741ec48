"""Our own session tokens.

A token is `<userId>.<secret>`: `userId` is a digest of (appid, openid) that
locates the user's partition, so checking a token is one DynamoDB request for
the user and the session together; `secret` is 256 random bits. Only the
token's SHA-256 is stored, so a copy of the table lets nobody in.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

from wxlogin.errors import Unauthorized
from wxlogin.records import record

USER_ID_LENGTH = 22  # 132 bits of SHA-256, base64url
TOKEN_PATTERN = re.compile(r"^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$")


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def user_id_for(appid: str, openid: str) -> str:
    return _b64url(hashlib.sha256(f"{appid}\n{openid}".encode()).digest())[:USER_ID_LENGTH]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


@record
class TokenRef:
    """What a presented token points at; never holds the token itself."""

    user_id: str
    token_hash: str


def mint_token(user_id: str) -> tuple[str, TokenRef]:
    token = f"{user_id}.{_b64url(secrets.token_bytes(32))}"
    return token, TokenRef(user_id, hash_token(token))


def parse_token(token: str | None) -> TokenRef:
    match = TOKEN_PATTERN.fullmatch(token or "")
    if not match:
        raise Unauthorized()
    return TokenRef(match.group(1), hash_token(token))


def bearer_token(authorization: str | None) -> TokenRef:
    """Parse an `Authorization: Bearer <token>` header value."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthorized()
    return parse_token(token.strip())
