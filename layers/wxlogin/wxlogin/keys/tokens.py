"""Our own session tokens.

A token is `<userId>.<secret>`: `userId` is a digest of (appid, openid) that
names the user item; `secret` is 32 bytes, the login's id (16 bytes the login
service derives from the login code under the deployment's key) then 128
random bits. The login id names the session item (a digest of it is the
item's key), so a retry of a login finds its session from the code alone, and
checking a token is one DynamoDB request for the user and the session
together. Only the token's SHA-256 and the login id's digest are stored, so a
copy of the table lets nobody in.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

from wxlogin.errors import Unauthorized
from wxlogin.records import record

USER_ID_LENGTH = 22  # 132 bits of SHA-256, base64url
LOGIN_ID_BYTES = 16
TOKEN_PATTERN = re.compile(r"^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$")


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def user_id_for(appid: str, openid: str) -> str:
    return _b64url(hashlib.sha256(f"{appid}\n{openid}".encode()).digest())[:USER_ID_LENGTH]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def session_id_for(login_id: bytes) -> str:
    """The key of a login's session item: what a token and a retry of the login both lead to."""
    # 96 bits, unique among all the sessions a table will ever hold, and short: the user item lists its newest.
    return _b64url(hashlib.sha256(login_id).digest()[:12])


@record
class TokenRef:
    """What a presented token points at; never holds the token itself."""

    user_id: str
    token_hash: str
    session_id: str


def mint_token(user_id: str, login_id: bytes) -> tuple[str, TokenRef]:
    """A new session token for the login `login_id` (LOGIN_ID_BYTES), with 128 random bits of its own."""
    if len(login_id) != LOGIN_ID_BYTES:
        raise ValueError("a login id is 16 bytes")
    token = f"{user_id}.{_b64url(login_id + secrets.token_bytes(32 - LOGIN_ID_BYTES))}"
    return token, TokenRef(user_id, hash_token(token), session_id_for(login_id))


def parse_token(token: str | None) -> TokenRef:
    match = TOKEN_PATTERN.fullmatch(token or "")
    if not match:
        raise Unauthorized()
    secret = base64.urlsafe_b64decode(match.group(2) + "=")
    return TokenRef(match.group(1), hash_token(token), session_id_for(secret[:LOGIN_ID_BYTES]))


def bearer_token(authorization: str | None) -> TokenRef:
    """Parse an `Authorization: Bearer <token>` header value."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthorized()
    return parse_token(token.strip())
