"""Finding a user by phone number without a scan and without a new copy of the number in clear.

A bound phone number is stored on its user as before, and beside it `phoneHash`: an HMAC of the number
in E.164 form under this deployment's data keys. The table's sparse `phone-index` holds only that hash
and the item's key, so the index (like a table export) shows no number, and nobody without the data keys
can test a guess against it. An operator's lookup hashes the number given under every key of the set
(current first), so numbers bound before a key rotation are still found.
"""

from __future__ import annotations

import re

from wxlogin.errors import InvalidRequest
from wxlogin.keys.serverkeys import ServerKeys

PURPOSE = "phone number"
# Mainland China's code, assumed for a number given without one (what most Mini Program users have).
DEFAULT_COUNTRY_CODE = "86"
_SEPARATORS = re.compile(r"[\s().-]")
_E164_DIGITS = re.compile(r"^[1-9][0-9]{6,14}$")


def e164(country_code: str, pure_number: str) -> str:
    return f"+{country_code}{pure_number}"


def phone_hash(keys: ServerKeys, phone: dict) -> str:
    """The stored hash of phone fields as WeChat gave them (countryCode, purePhoneNumber)."""
    return keys.keyed_hash(PURPOSE, e164(phone["countryCode"], phone["purePhoneNumber"]))


def normalized(text: str) -> str:
    """An operator's number as E.164: `+8613800138000`, `+86 138-0013-8000`, `008613800138000`, or a
    national number without its code (`13800138000`, taken as +86)."""
    number = _SEPARATORS.sub("", text or "")
    if number.startswith("+"):
        digits = number[1:]
    elif number.startswith("00"):
        digits = number[2:]
    else:
        digits = DEFAULT_COUNTRY_CODE + number
    if not _E164_DIGITS.fullmatch(digits):
        raise InvalidRequest("phone must be a phone number, e.g. +8613800138000.")
    return f"+{digits}"


def lookup_hashes(keys: ServerKeys, text: str) -> list[str]:
    """The hashes `text` may be stored under: one per data key, current first."""
    return keys.keyed_hashes(PURPOSE, normalized(text))
