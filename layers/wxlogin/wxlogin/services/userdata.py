"""Opening the encrypted user data a Mini Program forwards: one exact shape per kind.

Identity comes only from jscode2session: the data may confirm the session's
openid and supply a missing unionid, never change who the user is. AES-CBC has
no integrity: a client that knows part of a plaintext can rewrite its first
block through the iv, and drop leading blocks so that any later block (part of
a nickname it chose, say) becomes the first. So each kind has one exact shape,
every key required that WeChat always sends, no other key, no key twice, each
value of its type and checked as `POST /v1/me` checks it; data of one kind (or
a forgery spliced from it) never passes as the other. A forgery that keeps the
shape can only repeat what the genuine data holds. Every refusal is the same
InvalidEncryptedData, so the answer is no oracle.

Empty strings (WeChat's value for a profile field it does not disclose) are
dropped, not stored, as before.
"""

from __future__ import annotations

import re

from wxlogin.errors import InvalidEncryptedData, InvalidRequest
from wxlogin.keys.crypto import check_watermark, decrypt_user_data, verify_signature
from wxlogin.models import PHONE_FIELDS, PROFILE_FIELDS
from wxlogin.records import hidden, record
from wxlogin.services.user_fields import nickname, plain_text, wechat_avatar_url

MAX_PLACE_LENGTH = 64
# getUserInfo / getUserProfile data always has these keys (an empty string for what the user does not share)...
PROFILE_KEYS_ALWAYS = frozenset({"openId", "watermark", *PROFILE_FIELDS} - {"language"})
# ...and these when it has them: unionId only for an app bound to an Open Platform account, language not in all.
PROFILE_KEYS_SOMETIMES = frozenset({"unionId", "language"})
PHONE_KEYS = frozenset({"watermark", *PHONE_FIELDS})
GENDERS = (0, 1, 2)
_UNIONID = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
_DIGITS = re.compile(r"[0-9]{1,20}", re.ASCII)
_COUNTRY_CODE = re.compile(r"[0-9]{1,4}", re.ASCII)
# Digit groups, the first optionally after `+`, separated by one space or hyphen: "+852 6123-4567".
_PHONE_NUMBER = re.compile(r"\+?[0-9]+(?:[ -][0-9]+)*", re.ASCII)
MAX_PHONE_NUMBER_LENGTH = 32


@record
class EncryptedPayload:
    ciphertext: bytes = hidden()
    iv: bytes = hidden()
    raw_data: str | None = hidden(None)
    signature: str | None = hidden(None)


@record
class SessionIdentity:
    """Who the session_key belongs to, as jscode2session said."""

    appid: str
    openid: str
    unionid: str | None
    session_key: str = hidden()


@record
class ProfileData:
    """What profile data adds: the profile fields WeChat filled in, and the user's unionid if it names one."""

    fields: dict
    unionid: str | None


def _open(identity: SessionIdentity, payload: EncryptedPayload, max_age_seconds: int, now: float) -> dict:
    data = decrypt_user_data(identity.session_key, payload.ciphertext, payload.iv)
    if payload.raw_data is not None:
        verify_signature(payload.raw_data, payload.signature, identity.session_key)
    check_watermark(data, identity.appid, max_age_seconds, now)
    return data


def _profile_field(name: str, value: object) -> object:
    if name == "gender":
        if type(value) is not int or value not in GENDERS:
            raise InvalidEncryptedData()
        return value
    try:
        if name == "nickName":
            return nickname(value)
        if name == "avatarUrl":
            return wechat_avatar_url(value)
        return plain_text(name, value, MAX_PLACE_LENGTH)
    except InvalidRequest:
        raise InvalidEncryptedData() from None


def profile_data(identity: SessionIdentity, data: dict) -> ProfileData:
    """The profile in decrypted data of the session's user, or InvalidEncryptedData for any other shape."""
    if not PROFILE_KEYS_ALWAYS <= data.keys() <= PROFILE_KEYS_ALWAYS | PROFILE_KEYS_SOMETIMES:
        raise InvalidEncryptedData()
    if data["openId"] != identity.openid:
        raise InvalidEncryptedData()
    unionid = data.get("unionId")
    if unionid is not None:
        if not isinstance(unionid, str) or not _UNIONID.fullmatch(unionid):
            raise InvalidEncryptedData()
        if identity.unionid is not None and unionid != identity.unionid:
            raise InvalidEncryptedData()
    fields = {name: _profile_field(name, data[name]) for name in PROFILE_FIELDS if data.get(name, "") != ""}
    return ProfileData(fields, unionid)


def phone_fields(data: dict, country_code_may_be_number: bool = False) -> dict:
    """The three numbers of phone data (as strings), or InvalidEncryptedData for any other shape.

    WeChat's getuserphonenumber answer may give countryCode as a number; encrypted data gives a string."""
    if data.keys() != PHONE_KEYS:
        raise InvalidEncryptedData()
    number, pure, country = data["phoneNumber"], data["purePhoneNumber"], data["countryCode"]
    if country_code_may_be_number and isinstance(country, int) and not isinstance(country, bool):
        country = str(country)
    if not all(isinstance(value, str) for value in (number, pure, country)):
        raise InvalidEncryptedData()
    if not (_DIGITS.fullmatch(pure) and _COUNTRY_CODE.fullmatch(country)):
        raise InvalidEncryptedData()
    if len(number) > MAX_PHONE_NUMBER_LENGTH or not _PHONE_NUMBER.fullmatch(number):
        raise InvalidEncryptedData()
    # The full number is the pure one, or the country code and the pure one ("+852 61234567").
    if number != pure and re.sub(r"[^0-9]", "", number) != country + pure:
        raise InvalidEncryptedData()
    return {"phoneNumber": number, "purePhoneNumber": pure, "countryCode": country}


def open_profile_data(
    identity: SessionIdentity, payload: EncryptedPayload, max_age_seconds: int, now: float
) -> ProfileData:
    return profile_data(identity, _open(identity, payload, max_age_seconds, now))


def open_phone_data(identity: SessionIdentity, payload: EncryptedPayload, max_age_seconds: int, now: float) -> dict:
    return phone_fields(_open(identity, payload, max_age_seconds, now))
