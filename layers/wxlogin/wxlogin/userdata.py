"""Opening the encrypted user data a Mini Program forwards (profile, phone).

Identity comes only from jscode2session: the data may confirm the session's
openid and supply a missing unionid, never change who the user is (CBC lets a
client rewrite the first plaintext block through the iv).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .crypto import check_watermark, decrypt_user_data, verify_signature
from .errors import InvalidEncryptedData
from .models import PHONE_FIELDS, PROFILE_FIELDS

MAX_FIELD_LENGTH = 1024


@dataclass(frozen=True)
class EncryptedPayload:
    ciphertext: bytes = field(repr=False)
    iv: bytes = field(repr=False)
    raw_data: str | None = field(default=None, repr=False)
    signature: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SessionIdentity:
    """Who the session_key belongs to, as jscode2session said."""

    appid: str
    openid: str
    unionid: str | None
    session_key: str = field(repr=False)


def open_user_data(identity: SessionIdentity, payload: EncryptedPayload, max_age_seconds: int, now: float) -> dict:
    data = decrypt_user_data(identity.session_key, payload.ciphertext, payload.iv)
    if payload.raw_data is not None:
        verify_signature(payload.raw_data, payload.signature, identity.session_key)
    check_watermark(data, identity.appid, max_age_seconds, now)
    openid = data.get("openId")
    if openid is not None and openid != identity.openid:
        raise InvalidEncryptedData()
    unionid = data.get("unionId")
    if unionid is not None:
        # A unionId is taken only from data that also names this user's openId.
        if not isinstance(unionid, str) or not unionid or openid != identity.openid:
            raise InvalidEncryptedData()
        if identity.unionid is not None and unionid != identity.unionid:
            raise InvalidEncryptedData()
    return data


def _fields(data: dict, names: tuple[str, ...]) -> dict:
    fields = {}
    for name in names:
        value = data.get(name)
        if value is None or value == "":
            continue
        if isinstance(value, bool) or not isinstance(value, str | int) or len(str(value)) > MAX_FIELD_LENGTH:
            raise InvalidEncryptedData()
        fields[name] = value
    return fields


def profile_fields(data: dict) -> dict:
    return _fields(data, PROFILE_FIELDS)


def phone_fields(data: dict) -> dict:
    fields = _fields(data, PHONE_FIELDS)
    if "phoneNumber" not in fields:
        raise InvalidEncryptedData()
    return {name: str(value) for name, value in fields.items()}
