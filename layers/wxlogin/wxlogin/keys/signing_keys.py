"""The access tokens' signing keys: one Secrets Manager secret, never in the template, the table or a log.

    {"signingKeyId": "<kid>",
     "keys": [{"kid": "<kid>", "privateKey": "<PKCS#8 PEM>"},
              {"kid": "<old kid>", "publicKey": "<SubjectPublicKeyInfo PEM>"}]}

Every key is published in the JWKS; `signingKeyId` names the one that signs, and
a key given only by its public half is published and can sign nothing (a
retired key kept until its tokens have expired). The algorithm follows the
key: RSA (2048 bits or more) signs RS256, EC P-256 signs ES256. Rotation adds a
key, publishes it, then moves `signingKeyId`, then retires and finally removes
the old key (scripts/signing_keys.py and docs/operating.md). cryptography and PyJWT are
imported only when the keys are read or published.
"""

from __future__ import annotations

import json
import re

from wxlogin.errors import InternalError
from wxlogin.records import hidden, record

KID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MIN_RSA_BITS = 2048


class SigningKeysUnavailable(InternalError):
    """The signing-keys secret is missing, unreadable or malformed: an operator must fix it."""


@record
class SigningKey:
    kid: str
    algorithm: str
    public_key: object = hidden()
    private_key: object | None = hidden(None)

    def public_jwk(self) -> dict:
        from jwt.algorithms import ECAlgorithm, RSAAlgorithm

        to_jwk = ECAlgorithm.to_jwk if self.algorithm == "ES256" else RSAAlgorithm.to_jwk
        jwk = to_jwk(self.public_key, as_dict=True)
        # PyJWT adds key_ops; RFC 7517 (4.3) says use and key_ops SHOULD NOT be used together, and `use: sig` is
        # the member verifiers look for (API Gateway among them).
        jwk.pop("key_ops", None)
        return {**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig"}


@record
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


def parse_published_key_set(text: str) -> KeySet:
    """The published-keys secret, `{"keys": [{"kid", "publicKey"}, ...]}` (`scripts/signing_keys.py publish`):
    the keys to publish, none of which can sign. A private key there is refused: that secret is read by a
    function that must never hold one."""
    try:
        document = json.loads(text)
    except (TypeError, ValueError):
        raise ValueError("the published keys are not JSON") from None
    if not isinstance(document, dict) or set(document) != {"keys"} or not isinstance(document["keys"], list):
        raise ValueError('the published keys must be {"keys": [...]}')
    if any(not isinstance(entry, dict) or "privateKey" in entry for entry in document["keys"]):
        raise ValueError("the published keys hold a private key: publish only public halves")
    keys = tuple(_parse_key(entry, validate=False) for entry in document["keys"])
    if len({key.kid for key in keys}) != len(keys):
        raise ValueError("two keys share a kid")
    return KeySet(None, keys)


class SigningKeys:
    """The key set; `load()` answers the secret's text, cached by its caller. Parsed once per value, by `parse`
    (the signing keys' secret; or the published keys', `parse_published_key_set`)."""

    def __init__(self, load, parse=None):
        self._load = load
        self._parse = parse or (lambda text: parse_key_set(text, validate=False))
        self._parsed: tuple[str, KeySet] | None = None

    @classmethod
    def from_settings(cls, settings, provider=None) -> SigningKeys:
        """Keys read from SIGNING_KEYS_ID through the AppSecrets' provider and cache (or the one given)."""

        def load() -> str:
            from wxlogin.keys.appsecrets import shared_provider

            return (provider or shared_provider()).get(
                settings.signing_keys_id, max_age=settings.secret_max_age_seconds
            )

        return cls(load)

    @classmethod
    def published_from_settings(cls, settings, provider=None) -> SigningKeys:
        """The public halves only, from PUBLISHED_KEYS_ID: what the published-keys function serves."""

        def load() -> str:
            from wxlogin.keys.appsecrets import shared_provider

            return (provider or shared_provider()).get(
                settings.published_keys_id, max_age=settings.secret_max_age_seconds
            )

        return cls(load, parse_published_key_set)

    def published(self) -> KeySet:
        """The keys to publish. While the secret is still `{}` that is none, not an error: an issuer with no
        keys yet is what verifiers (API Gateway creating the example's authorizer among them) then find."""
        from wxlogin.keys.appsecrets import unreadable_secret

        try:
            text = self._load()
        except Exception as exc:  # as for the AppSecrets: a passing fault (503) or an operator's to fix (500)
            raise unreadable_secret(exc, SigningKeysUnavailable) from None
        if self._parsed is not None and self._parsed[0] == text:
            return self._parsed[1]
        try:
            key_set = NOT_YET_SET if text.strip() == "{}" else self._parse(text)
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
