"""Signed access tokens: short-lived JWTs any API verifies offline against our published keys.

The session token (tokens.py) stays the revocable credential only wxlogin
accepts; an access token says who the user is to the developer's own APIs
(API Gateway's JWT authorizer, any JWT library) until it expires.

The signing keys live in one Secrets Manager secret, never in the template,
the table or a log:

    {"signingKeyId": "<kid>",
     "keys": [{"kid": "<kid>", "privateKey": "<PKCS#8 PEM>"},
              {"kid": "<old kid>", "publicKey": "<SubjectPublicKeyInfo PEM>"}]}

Every key is published in the JWKS; `signingKeyId` names the one that signs, and
a key given only by its public half is published and can sign nothing (a
retired key kept until its tokens have expired). The algorithm follows the
key: RSA (2048 bits or more) signs RS256, EC P-256 signs ES256. Rotation adds a
key, publishes it, then moves `signingKeyId`, then retires and finally removes
the old key (scripts/signing_keys.py and the README).

A token is signed with cryptography directly (JWS compact serialization, RFC
7515: a few lines); PyJWT verifies (verify_access_token, the tests) and writes
the published JWKs. PyJWT's import loads cryptography's x509 package, whose
module-level regular expressions were most of what access tokens added to a
cold login (make bench; README, Performance). cryptography and PyJWT are
imported only when a token is signed or verified or the keys are read, so
functions that never do pay nothing for them.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from dataclasses import dataclass, field

from .errors import InternalError, Unauthorized
from .tokens import user_id_for

# RFC 9068's header type: an access token, not an ID token or anything else we might one day sign.
TOKEN_TYPE = "at+jwt"  # noqa: S105 - a header value, not a secret
KID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MIN_RSA_BITS = 2048
JWKS_PATH = "/.well-known/jwks.json"
# What verification demands of every token we mint; `unionid` is present only when WeChat gave one.
REQUIRED_CLAIMS = ("iss", "aud", "sub", "iat", "exp", "jti", "appid", "openid")


class SigningKeysUnavailable(InternalError):
    """The signing-keys secret is missing, unreadable or malformed: an operator must fix it."""


class InvalidAccessToken(Unauthorized):
    """Not one of our access tokens, or no longer valid; one answer for every cause."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str
    public_key: object = field(repr=False)
    private_key: object | None = field(default=None, repr=False)

    def public_jwk(self) -> dict:
        from jwt.algorithms import ECAlgorithm, RSAAlgorithm

        to_jwk = ECAlgorithm.to_jwk if self.algorithm == "ES256" else RSAAlgorithm.to_jwk
        return {**to_jwk(self.public_key, as_dict=True), "kid": self.kid, "alg": self.algorithm, "use": "sig"}


@dataclass(frozen=True)
class KeySet:
    # None only for the empty set: published keys none, signing impossible.
    signing_key: SigningKey | None
    keys: tuple[SigningKey, ...]

    def jwks(self) -> dict:
        """The public keys, as `GET /.well-known/jwks.json` serves them."""
        return {"keys": [key.public_jwk() for key in self.keys]}

    @property
    def algorithms(self) -> list[str]:
        return sorted({key.algorithm for key in self.keys})


def _algorithm_for(public_key) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size >= MIN_RSA_BITS:
        return "RS256"
    if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(public_key.curve, ec.SECP256R1):
        return "ES256"
    raise ValueError(f"keys must be RSA of {MIN_RSA_BITS} bits or more, or EC P-256")


def _parse_key(entry, validate: bool) -> SigningKey:
    from cryptography.hazmat.primitives import serialization

    if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str) or not KID_PATTERN.match(entry["kid"]):
        raise ValueError("every key needs a kid of 1-64 letters, digits, '.', '_' or '-'")
    kid = entry["kid"]
    private_pem, public_pem = entry.get("privateKey"), entry.get("publicKey")
    if (private_pem is None) == (public_pem is None):
        raise ValueError(f"key {kid}: give exactly one of privateKey and publicKey")
    pem = private_pem if private_pem is not None else public_pem
    if not isinstance(pem, str):
        raise ValueError(f"key {kid}: the key must be a PEM string")
    # The library's own message could quote the material it failed on, so it is not passed on.
    try:
        if private_pem is not None:
            private_key = serialization.load_pem_private_key(
                pem.encode(), password=None, unsafe_skip_rsa_key_validation=not validate
            )
            public_key = private_key.public_key()
        else:
            private_key, public_key = None, serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError):
        raise ValueError(f"key {kid}: not a PEM key without a password") from None
    try:
        algorithm = _algorithm_for(public_key)
    except ValueError as exc:
        raise ValueError(f"key {kid}: {exc}") from None
    return SigningKey(kid, algorithm, public_key, private_key)


def parse_key_set(text: str, validate: bool = True) -> KeySet:
    """The key set in the secret's JSON; ValueError (naming no key material) when it is not a valid one.

    `validate=False` skips cryptography's consistency check of RSA private keys (about 55 ms per key, most
    of what access tokens add to a cold login): the functions read keys that scripts/signing_keys.py made
    and checked with it, from a secret only operators can write.
    """
    try:
        document = json.loads(text)
    except (TypeError, ValueError):
        raise ValueError("the signing keys are not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list) or not document["keys"]:
        raise ValueError('the signing keys must be {"signingKeyId": ..., "keys": [...]} with at least one key')
    keys = tuple(_parse_key(entry, validate) for entry in document["keys"])
    by_kid = {key.kid: key for key in keys}
    if len(by_kid) != len(keys):
        raise ValueError("two keys share a kid")
    signing = by_kid.get(document.get("signingKeyId"))
    if signing is None:
        raise ValueError("signingKeyId must name one of the keys")
    if signing.private_key is None:
        raise ValueError(f"the signing key {signing.kid} has no privateKey")
    return KeySet(signing, keys)


# The template creates the secret as `{}`: no key yet, the state of a stack before its operator's first step.
NOT_YET_SET = KeySet(None, ())


class SigningKeys:
    """The key set; `load()` answers the secret's text, cached by its caller. Parsed once per value."""

    def __init__(self, load):
        self._load = load
        self._parsed: tuple[str, KeySet] | None = None

    @classmethod
    def from_settings(cls, settings, provider=None) -> SigningKeys:
        """Keys read from SIGNING_KEYS_ID through the AppSecrets' provider and cache (or the one given)."""

        def load() -> str:
            from .appsecrets import shared_provider

            return (provider or shared_provider()).get(
                settings.signing_keys_id, max_age=settings.secret_max_age_seconds
            )

        return cls(load)

    def published(self) -> KeySet:
        """The keys to publish. While the secret is still `{}` that is none, not an error: an issuer with no
        keys yet is what verifiers (API Gateway creating the example's authorizer among them) then find."""
        try:
            text = self._load()
        except Exception:  # as for the AppSecrets: any failure to read it, denied or missing
            raise SigningKeysUnavailable() from None
        if self._parsed is not None and self._parsed[0] == text:
            return self._parsed[1]
        try:
            key_set = NOT_YET_SET if text.strip() == "{}" else parse_key_set(text, validate=False)
        except ValueError:
            raise SigningKeysUnavailable() from None
        self._parsed = (text, key_set)
        return key_set

    def current(self) -> KeySet:
        """The keys with the one that signs; SigningKeysUnavailable while there is none."""
        key_set = self.published()
        if key_set.signing_key is None:
            raise SigningKeysUnavailable()
        return key_set


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

    def answer(self, issuer: str, *, appid: str, openid: str, unionid: str | None) -> dict:
        """`{accessToken, accessTokenExpiresIn}` for a user, as login and refresh answer them."""
        token = mint_access_token(
            self.key_set(),
            issuer=issuer,
            audience=self.audience or appid,
            subject=user_id_for(appid, openid),
            appid=appid,
            openid=openid,
            unionid=unionid,
            ttl_seconds=self.ttl_seconds,
        )
        return {"accessToken": token, "accessTokenExpiresIn": self.ttl_seconds}


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
        "appid": appid,
        "openid": openid,
        "iat": issued_at,
        "exp": issued_at + ttl_seconds,
        "jti": secrets.token_urlsafe(16),
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
        "id_token_signing_alg_values_supported": key_set.algorithms,
    }
