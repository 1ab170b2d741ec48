"""The deployment's own key material, and what is derived from it.

One Secrets Manager secret (DATA_KEYS_SECRET_ID) holds `{"current": "<kid>", "<kid>": "<material>", ...}`:
CloudFormation creates it with a generated value, so a deploy needs no setup, and a rotation adds a key id,
switches `current` to it and keeps the old one while anything sealed under it may still be read. Each use gets
its own subkey through HKDF, so no two purposes ever share a key:

- `session_key` and the WeChat access_token at rest: AES-256-GCM with the item's key and its generation as
  associated data, so a sealed value copied onto another item, or written back onto an item made anew after an
  erasure, does not open (and not opening is a stale session or a token to fetch again, never an error);
- login retry records: the record id, the check of the Idempotency-Key and the sealing key of the answer, so
  the table holds neither a login code nor anything that opens a record without the code, the key and this secret.

The secret is read through the same cached provider as the AppSecrets: no remote call per request.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from wxlogin.errors import InternalError
from wxlogin.records import hidden, record

# 2: the associated data holds the item's generation (version 1 named the item alone; such values no longer open).
SEALED_VERSION = 2
NONCE_SIZE = 12
MIN_MATERIAL_LENGTH = 32


class KeysUnavailable(InternalError):
    """The key secret is missing, malformed or lacks a key that sealed data names: an operator must fix it."""


@record
class KeySet:
    current: str
    materials: dict[str, bytes] = hidden()


def parse_key_set(value: object) -> KeySet:
    if not isinstance(value, dict) or not isinstance(value.get("current"), str):
        raise KeysUnavailable()
    materials = {
        kid: material.encode("utf-8")
        for kid, material in value.items()
        if kid != "current" and isinstance(material, str) and len(material) >= MIN_MATERIAL_LENGTH
    }
    if value["current"] not in materials or any(len(kid.encode()) > 255 for kid in materials):
        raise KeysUnavailable()
    return KeySet(value["current"], materials)


def _associated_data(item_key: str, generation: str) -> bytes:
    # Neither part holds a newline (item keys are `<KIND>#<id>`, generations base64url), so the join is unambiguous.
    return f"{item_key}\n{generation}".encode()


class ServerKeys:
    """Subkeys of the current (or a named) key; `load()` answers the secret's parsed JSON, cached by its caller."""

    def __init__(self, load):
        self._load = load
        self._derived: dict[tuple[str, bytes, str], bytes] = {}

    @classmethod
    def from_settings(cls, settings, provider=None) -> ServerKeys:
        """Keys read from DATA_KEYS_SECRET_ID through the AppSecrets' provider and cache (or the one given)."""

        def load():
            from wxlogin.keys.appsecrets import read_json_secret, shared_provider

            return read_json_secret(
                provider or shared_provider(), settings.data_keys_secret_id, settings.secret_max_age_seconds
            )

        return cls(load)

    def _key_set(self) -> KeySet:
        return parse_key_set(self._load())

    def _subkey(self, purpose: str, kid: str | None = None) -> tuple[str, bytes]:
        keys = self._key_set()
        kid = keys.current if kid is None else kid
        material = keys.materials.get(kid)
        if material is None:
            raise KeysUnavailable()
        cache_key = (kid, material, purpose)
        if cache_key not in self._derived:
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.kdf.hkdf import HKDF

            info = f"wxlogin {purpose}".encode()
            self._derived[cache_key] = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(material)
        return kid, self._derived[cache_key]

    def keyed_hash(self, purpose: str, *parts: str) -> str:
        """A stable id for `parts` that nobody without the current key can compute or invert."""
        _, key = self._subkey(f"hash {purpose}")
        return hmac.new(key, "\n".join(parts).encode("utf-8"), hashlib.sha256).hexdigest()

    def keyed_hashes(self, purpose: str, *parts: str) -> list[str]:
        """`keyed_hash` under every key of the set, current first: finds what was hashed before a rotation."""
        keys = self._key_set()
        kids = [keys.current, *sorted(kid for kid in keys.materials if kid != keys.current)]
        text = "\n".join(parts).encode("utf-8")
        return [hmac.new(self._subkey(f"hash {purpose}", kid)[1], text, hashlib.sha256).hexdigest() for kid in kids]

    def seal_text(self, purpose: str, item_key: str, generation: str, text: str) -> bytes:
        """`text` (a session_key, an access_token) sealed under the current key for the item `item_key` in its
        `generation`: both are the associated data, so the value opens in that item and generation only."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        kid, key = self._subkey(purpose)
        nonce = os.urandom(NONCE_SIZE)
        sealed = AESGCM(key).encrypt(nonce, text.encode("utf-8"), _associated_data(item_key, generation))
        kid_bytes = kid.encode("utf-8")
        return bytes([SEALED_VERSION, len(kid_bytes)]) + kid_bytes + nonce + sealed

    def open_text(self, purpose: str, item_key: str, generation: str, blob: object) -> str | None:
        """The text `seal_text` sealed for this item and generation; None for anything else: another item or
        generation, a tampered or truncated value, an older format, a data key the secret no longer holds. The
        caller answers that as a stale value (log in again, fetch a new token), never as a fault."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if not isinstance(blob, bytes) or len(blob) < 2 or blob[0] != SEALED_VERSION:
            return None
        kid_end = 2 + blob[1]
        kid = blob[2:kid_end].decode("utf-8", "replace")
        nonce, sealed = blob[kid_end : kid_end + NONCE_SIZE], blob[kid_end + NONCE_SIZE :]
        if kid not in self._key_set().materials:
            return None  # a retired data key: what it sealed is stale (a malformed secret still raises)
        _, key = self._subkey(purpose, kid)
        try:
            return AESGCM(key).decrypt(nonce, sealed, _associated_data(item_key, generation)).decode("utf-8")
        except (InvalidTag, ValueError):
            return None

    def retry_sealing_key(self, kid: str, appid: str, code: str, idempotency_key: str) -> bytes:
        """HKDF over the code and the Idempotency-Key, salted with this deployment's key `kid`."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        _, salt = self._subkey("login retry", kid)
        material = "\n".join((appid, code, idempotency_key)).encode("utf-8")
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"wxlogin login retry answer").derive(
            material
        )

    def current_kid(self) -> str:
        return self._key_set().current
