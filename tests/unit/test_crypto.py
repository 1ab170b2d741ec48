"""Decryption is strict where common SDKs are lenient, and every key-dependent failure looks the same."""

import base64
import hashlib
import json
import os

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from local.wechat_simulator import encrypt_user_data
from wxlogin.errors import InvalidEncryptedData
from wxlogin.keys.crypto import b64decode_strict, check_watermark, decrypt_user_data, seal, unseal, verify_signature

KEY = base64.b64encode(bytes(range(16))).decode()
APPID = "wx0123456789abcdef"
NOW = 1_800_000_000


def _encrypt(payload: dict, key: str = KEY) -> tuple[bytes, bytes]:
    data, iv = encrypt_user_data(key, payload)
    return base64.b64decode(data), base64.b64decode(iv)


def _raw_cbc(plaintext: bytes, key: bytes = bytes(range(16)), iv: bytes = bytes(16)) -> bytes:
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(plaintext) + encryptor.finalize()


def test_round_trip():
    payload = {"openId": "o1", "nickName": "Ann", "watermark": {"appid": APPID, "timestamp": NOW}}
    assert decrypt_user_data(KEY, *_encrypt(payload)) == payload


def test_wrong_key_is_invalid():
    ciphertext, iv = _encrypt({"openId": "o1"})
    other = base64.b64encode(os.urandom(16)).decode()
    with pytest.raises(InvalidEncryptedData):
        decrypt_user_data(other, ciphertext, iv)


@pytest.mark.parametrize("key_bytes", [15, 24, 32])
def test_key_must_be_exactly_16_bytes(key_bytes):
    # cryptography would silently run AES-192/256 with a 24/32-byte key.
    ciphertext, iv = _encrypt({"a": 1})
    with pytest.raises(InvalidEncryptedData):
        decrypt_user_data(base64.b64encode(bytes(key_bytes)).decode(), ciphertext, iv)


@pytest.mark.parametrize("iv", [b"", bytes(15), bytes(17)])
def test_iv_must_be_16_bytes(iv):
    ciphertext, _ = _encrypt({"a": 1})
    with pytest.raises(InvalidEncryptedData):
        decrypt_user_data(KEY, ciphertext, iv)


@pytest.mark.parametrize("cut", [0, 1, 15, 17])
def test_ciphertext_must_be_whole_nonempty_blocks(cut):
    ciphertext, iv = _encrypt({"a": "x" * 40})
    with pytest.raises(InvalidEncryptedData):
        decrypt_user_data(KEY, ciphertext[:cut], iv)


@pytest.mark.parametrize("padding", [b"\x00" * 16, b"\x11" * 16, b"abc" + b"\x02" * 13, b"x" * 14 + b"\x01\x02"])
def test_bad_padding_is_rejected(padding):
    with pytest.raises(InvalidEncryptedData):
        decrypt_user_data(KEY, _raw_cbc(b'{"a": 1}        ' + padding), bytes(16))


def test_non_json_plaintext_is_invalid():
    with pytest.raises(InvalidEncryptedData):
        decrypt_user_data(KEY, _raw_cbc(b"not json at all" + b"\x01"), bytes(16))


@pytest.mark.parametrize(
    "plaintext",
    [
        b'{"openId":"a","openId":"b"}',  # the last would win: a forged block could override the genuine value
        b'{"watermark":{"appid":"x","appid":"y"}}',
        b'{"gender":NaN}',
        b'{"gender":-Infinity}',
        b'{"a":' + b"[" * 12000 + b"]" * 12000 + b"}",  # deeper than Python's stack
        b'{"gender":' + b"9" * 5000 + b"}",  # longer than int() takes
    ],
)
def test_json_a_forger_could_lean_on_is_invalid(plaintext):
    pad = 16 - len(plaintext) % 16
    with pytest.raises(InvalidEncryptedData):
        decrypt_user_data(KEY, _raw_cbc(plaintext + bytes([pad]) * pad), bytes(16))


def test_iv_rewrites_first_block_but_identity_is_checked_elsewhere():
    # The CBC malleability docs/wechat.md warns about: flipping iv bytes rewrites the first block.
    payload = {"openId": "oGZUI0123", "watermark": {"appid": APPID, "timestamp": NOW}}
    ciphertext, iv = _encrypt(payload)
    original = json.dumps(payload, separators=(",", ":")).encode()[:16]
    forged = original.replace(b"oGZUI", b"EVIL1")
    evil_iv = bytes(a ^ b ^ c for a, b, c in zip(iv, original, forged, strict=True))
    assert decrypt_user_data(KEY, ciphertext, evil_iv)["openId"].startswith("EVIL1")


@pytest.mark.parametrize("text", ["YWJj\n", "YW Jj", "YWJ", "YW-_", "YWJj====", "ÿÿÿÿ"])
def test_base64_is_strict(text):
    with pytest.raises(ValueError):
        b64decode_strict(text)


def test_signature():
    raw = '{"nickName":"Ann"}'
    good = hashlib.sha1((raw + KEY).encode()).hexdigest()
    verify_signature(raw, good, KEY)
    verify_signature(raw, good.upper(), KEY)
    for bad in (good[:-1] + ("0" if good[-1] != "0" else "1"), "", "ü"):
        with pytest.raises(InvalidEncryptedData):
            verify_signature(raw, bad, KEY)
    with pytest.raises(InvalidEncryptedData):
        verify_signature(raw + " ", good, KEY)


@pytest.mark.parametrize(
    "watermark, max_age",
    [
        ({"appid": "wxother", "timestamp": NOW}, 300),
        ({"timestamp": NOW}, 300),
        ({"appid": APPID, "timestamp": NOW - 301}, 300),
        ({"appid": APPID, "timestamp": NOW + 61}, 0),
        ({"appid": APPID, "timestamp": str(NOW)}, 300),
        ({"appid": APPID, "timestamp": True}, 300),
        (None, 300),
        ({"appid": APPID, "timestamp": NOW, "extra": 1}, 300),  # exactly {appid, timestamp}
        ({"appid": APPID, "timestamp": float(NOW)}, 300),
    ],
)
def test_watermark_rejections(watermark, max_age):
    with pytest.raises(InvalidEncryptedData):
        check_watermark({"watermark": watermark}, APPID, max_age, now=NOW)


def test_watermark_accepted_and_zero_disables_age():
    check_watermark({"watermark": {"appid": APPID, "timestamp": NOW - 300}}, APPID, 300, now=NOW)
    check_watermark({"watermark": {"appid": APPID, "timestamp": NOW + 60}}, APPID, 300, now=NOW)
    check_watermark({"watermark": {"appid": APPID, "timestamp": 1}}, APPID, 0, now=NOW)


def test_seal_opens_only_with_the_same_key():
    key, other = bytes(range(32)), bytes(range(1, 33))
    sealed = seal(key, b"answer")
    assert b"answer" not in sealed
    assert unseal(key, sealed) == b"answer"
    assert unseal(other, sealed) is None
    assert unseal(key, sealed[:-1] + bytes([sealed[-1] ^ 1])) is None
