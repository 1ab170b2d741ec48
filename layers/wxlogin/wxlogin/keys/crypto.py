"""Decryption and checks of the data the WeChat client hands a Mini Program.

AES-128-CBC with PKCS#7, strict where common SDKs are lenient (see docs/wechat.md):
exact key and iv lengths, whole blocks, validated base64, exact padding. CBC
has no integrity, so the caller must still compare the decrypted identity with
the one from jscode2session. Every failure that depends on the key (padding,
JSON, watermark, signature) raises the same InvalidEncryptedData so the answers
cannot serve as an oracle; shape errors that do not (base64, lengths) are the
request parser's to refuse as bad input. `cryptography` is imported inside the functions that
use it, on purpose: the account function never decrypts, and its cold start does not load it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import time

from wxlogin.errors import InvalidEncryptedData

BLOCK_SIZE = 16


def b64decode_strict(value: str) -> bytes:
    """Standard base64 only: no junk characters, no URL-safe alphabet, correct padding.

    Raises ValueError; the caller decides whether that is bad input or bad data.
    """
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError("not standard base64") from exc


def _unpad(padded: bytes) -> bytes:
    pad = padded[-1]
    if not 1 <= pad <= BLOCK_SIZE or not hmac.compare_digest(padded[-pad:], bytes([pad]) * pad):
        raise InvalidEncryptedData()
    return padded[:-pad]


def _unique_keys(pairs: list) -> dict:
    # A key given twice would let a forged block override the genuine value (the last one wins).
    data = dict(pairs)
    if len(data) != len(pairs):
        raise ValueError("duplicate key")
    return data


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def decrypt_user_data(session_key: str, ciphertext: bytes, iv: bytes) -> dict:
    """Decrypt WeChat user data with the base64 `session_key`; return the JSON object inside."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    try:
        key = b64decode_strict(session_key)
    except ValueError:
        raise InvalidEncryptedData() from None
    # cryptography would take a 24- or 32-byte key as AES-192/256: insist on AES-128.
    if len(key) != BLOCK_SIZE or len(iv) != BLOCK_SIZE or not ciphertext or len(ciphertext) % BLOCK_SIZE:
        raise InvalidEncryptedData()
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    plaintext = _unpad(decryptor.update(ciphertext) + decryptor.finalize())
    try:
        data = json.loads(plaintext.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidEncryptedData() from None
    if not isinstance(data, dict):
        raise InvalidEncryptedData()
    return data


def verify_signature(raw_data: object, signature: object, session_key: str) -> None:
    """WeChat signs `rawData` as hex(sha1(rawData + session_key)); compare in constant time."""
    if not isinstance(raw_data, str) or not isinstance(signature, str):
        raise InvalidEncryptedData()
    try:
        signed = (raw_data + session_key).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no WeChat client signed that
        raise InvalidEncryptedData() from None
    expected = hashlib.sha1(signed, usedforsecurity=False).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.lower().encode("utf-8", "replace")):
        raise InvalidEncryptedData()


def check_watermark(data: dict, appid: str, max_age_seconds: int, now: float | None = None) -> None:
    """The watermark must be exactly {appid, timestamp}, name our app, and be neither stale (unless the age check
    is off) nor from the future."""
    watermark = data.get("watermark")
    if not isinstance(watermark, dict) or watermark.keys() != {"appid", "timestamp"} or watermark["appid"] != appid:
        raise InvalidEncryptedData()
    timestamp = watermark.get("timestamp")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise InvalidEncryptedData()
    now = time.time() if now is None else now
    if timestamp > now + 60:
        raise InvalidEncryptedData()
    if max_age_seconds and timestamp < now - max_age_seconds:
        raise InvalidEncryptedData()


def seal(key: bytes, plaintext: bytes) -> bytes:
    """AES-256-GCM under the 32-byte `key` (from a KDF, never raw key material); returns nonce + ciphertext."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, None)


def unseal(key: bytes, sealed: bytes) -> bytes | None:
    """The plaintext `seal` sealed under the same key, or None for any other key."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        return AESGCM(key).decrypt(sealed[:12], sealed[12:], None)
    except (InvalidTag, ValueError):
        return None
