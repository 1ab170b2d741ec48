"""Signed access tokens: short-lived JWTs any API verifies offline against our published keys.

The session token (tokens.py) stays the revocable credential only wxlogin
accepts; an access token says who the user is to the developer's own APIs
(API Gateway's JWT authorizer, any JWT library) until it expires. The keys and
their secret are signing_keys.py's.

A token is signed with cryptography directly (JWS compact serialization, RFC
7515: a few lines); PyJWT verifies (verify_access_token, the tests) and writes
the published JWKs. PyJWT's import loads cryptography's x509 package, whose
module-level regular expressions were most of what access tokens added to a
cold login (make bench; docs/performance.md). cryptography and PyJWT are
imported only when a token is signed or verified, so functions that never do
pay nothing for them.

A session's access tokens are bounded: its lifetime is cut into SLOTS_PER_LIFETIME slots (offset per
session, so sessions do not all roll over at once), and every login or refresh of a session within a
slot gets the same token: iat the slot's start, exp one lifetime later, jti derived from the session
and the slot. So a session holds at most SLOTS_PER_LIFETIME valid tokens at any moment, however fast
it refreshes, and each one it gets has at least (1 - 1/SLOTS_PER_LIFETIME) of its lifetime left.
With RS256 the same claims sign to the same bytes; ES256 signs them anew (the same jti, iat and exp).
No state: no write, no read beyond the session's.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time

from wxlogin.errors import InternalError, Unauthorized
from wxlogin.keys.signing_keys import KeySet, SigningKey, SigningKeys
from wxlogin.keys.tokens import TokenRef

# RFC 9068's header type: an access token, not an ID token or anything else we might one day sign.
TOKEN_TYPE = "at+jwt"  # noqa: S105 - a header value, not a secret
JWKS_PATH = "/.well-known/jwks.json"
# What verification demands of every token we mint (RFC 9068, 2.2, and ours); `unionid` is present only when
# WeChat's jscode2session gave one.
REQUIRED_CLAIMS = ("iss", "aud", "sub", "client_id", "iat", "exp", "jti", "appid", "openid")
# What the discovery document truthfully says of an issuer that signs access tokens and nothing else: it has no
# authorization endpoint and serves no OAuth response type, and each Mini Program (the client) knows a person by
# its own account, so `sub` differs per client (OpenID Connect Discovery 1.0, 3; Core 1.0, 8).
RESPONSE_TYPES_SUPPORTED: list[str] = []
SUBJECT_TYPES_SUPPORTED = ["pairwise"]
# A session gets a new access token at most this many times per token lifetime (module docstring).
SLOTS_PER_LIFETIME = 4


class InvalidAccessToken(Unauthorized):
    """Not one of our access tokens, or no longer valid; one answer for every cause."""


class AccessTokenSigner:
    """This deployment's access tokens: its key set, lifetime, audience and issuer."""

    def __init__(self, keys: SigningKeys, ttl_seconds: int, audience: str | None = None, issuer: str | None = None):
        self.keys = keys
        self.ttl_seconds = ttl_seconds
        self.audience = audience
        self.configured_issuer = issuer

    @classmethod
    def from_settings(cls, settings, provider=None) -> AccessTokenSigner:
        audience, issuer = settings.access_token_audience, settings.access_token_issuer
        return cls(SigningKeys.from_settings(settings, provider), settings.access_token_ttl_seconds, audience, issuer)

    def issuer(self, event: dict) -> str:
        """The configured issuer (a custom domain), or the API's own URL: the domain API Gateway received the
        request on, which is where it serves the discovery document."""
        if self.configured_issuer:
            return self.configured_issuer
        domain = (event.get("requestContext") or {}).get("domainName")
        if not isinstance(domain, str) or not domain:
            raise InternalError()
        return f"https://{domain}"

    def key_set(self) -> KeySet:
        """The keys to sign with; SigningKeysUnavailable (500, one log line) until the operator has set them."""
        return self.keys.current()

    def answer(
        self,
        issuer: str,
        *,
        session: TokenRef,
        subject: str,
        appid: str,
        openid: str,
        unionid: str | None,
        now: float | None = None,
    ) -> dict:
        """`{accessToken, accessTokenExpiresIn}` for an account (`subject`), as login and refresh answer them:
        the session's token of the current slot, and the seconds it has left."""
        now = time.time() if now is None else now
        issued_at, jti = session_slot(session, self.ttl_seconds, now)
        token = mint_access_token(
            self.key_set(),
            issuer=issuer,
            audience=self.audience or appid,
            subject=subject,
            appid=appid,
            openid=openid,
            unionid=unionid,
            ttl_seconds=self.ttl_seconds,
            now=issued_at,
            jti=jti,
        )
        return {"accessToken": token, "accessTokenExpiresIn": issued_at + self.ttl_seconds - int(now)}


def session_slot(session: TokenRef, ttl_seconds: int, now: float) -> tuple[int, str]:
    """The start of the session's current slot (its token's iat) and that token's jti.

    The slots are a quarter of the lifetime long, shifted by an offset drawn from the session, so that
    sessions do not all roll over at the same second; the jti is a hash of the session's token hash and
    the slot, which names neither the session nor its token.
    """
    slot = max(1, ttl_seconds // SLOTS_PER_LIFETIME)
    offset = int.from_bytes(hashlib.sha256(f"slot offset:{session.token_hash}".encode()).digest()[:8], "big") % slot
    index = (int(now) - offset) // slot
    jti = _b64url(hashlib.sha256(f"access token:{session.token_hash}:{index}".encode()).digest()[:16])
    return index * slot + offset, jti


def mint_access_token(
    key_set: KeySet,
    *,
    issuer: str,
    audience: str,
    subject: str,
    appid: str,
    openid: str,
    unionid: str | None,
    ttl_seconds: int,
    now: int | None = None,
    jti: str | None = None,
) -> str:
    """A JWT for the developer's APIs: who the user is, and nothing a third party should hold.

    No session_key, no profile, no phone number: an access token travels to
    servers that are not ours and is readable by anyone who holds it.
    """
    issued_at = int(time.time()) if now is None else now
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        # RFC 9068, 2.2: the client the token was issued to, here the Mini Program.
        "client_id": appid,
        "appid": appid,
        "openid": openid,
        "iat": issued_at,
        "exp": issued_at + ttl_seconds,
        "jti": jti or secrets.token_urlsafe(16),
    }
    if unionid:
        claims["unionid"] = unionid
    key = key_set.signing_key
    header = {"alg": key.algorithm, "kid": key.kid, "typ": TOKEN_TYPE}
    signing_input = f"{_b64url_json(header)}.{_b64url_json(claims)}"
    return f"{signing_input}.{_b64url(_signature(key, signing_input.encode('ascii')))}"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_json(value: dict) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def _signature(key: SigningKey, signing_input: bytes) -> bytes:
    """RS256 is RSASSA-PKCS1-v1_5 with SHA-256; ES256 is ECDSA P-256 with SHA-256, its (r, s) as two 32-byte
    big-endian integers (RFC 7518, 3.4), not the DER cryptography answers."""
    from cryptography.hazmat.primitives import hashes

    if key.algorithm == "RS256":
        from cryptography.hazmat.primitives.asymmetric import padding

        return key.private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(key.private_key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def verify_access_token(token: str, jwks: dict, *, issuer: str, audience: str) -> dict:
    """The claims of one of our access tokens, checked against a published JWKS; InvalidAccessToken otherwise.

    The algorithm is the one the key named by `kid` is published for, never the
    one the token claims: that is what refuses `alg: none` and an HS256 token
    signed with a public key as its HMAC secret.
    """
    import jwt

    try:
        header = jwt.get_unverified_header(token)
        published = {key.get("kid"): key for key in jwks.get("keys", []) if isinstance(key, dict)}
        jwk = published.get(header.get("kid")) if isinstance(header.get("kid"), str) else None
        if jwk is None or header.get("typ") != TOKEN_TYPE or header.get("alg") != jwk.get("alg"):
            raise InvalidAccessToken()
        return jwt.decode(
            token,
            jwt.PyJWK(jwk),
            algorithms=[jwk["alg"]],
            issuer=issuer,
            audience=audience,
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except (jwt.PyJWTError, ValueError, TypeError):
        raise InvalidAccessToken() from None


def openid_configuration(issuer: str, key_set: KeySet) -> dict:
    """The discovery document: where the keys are and how tokens are signed, all an API Gateway JWT
    authorizer or a JWT library needs beyond the issuer and audience."""
    return {
        "issuer": issuer,
        "jwks_uri": issuer.rstrip("/") + JWKS_PATH,
        "response_types_supported": RESPONSE_TYPES_SUPPORTED,
        "subject_types_supported": SUBJECT_TYPES_SUPPORTED,
        "id_token_signing_alg_values_supported": key_set.algorithms,
    }
