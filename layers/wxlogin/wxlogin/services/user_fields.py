"""The rules a user's profile values follow, wherever they come from: PATCH /v1/me or WeChat's decrypted data."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

from wxlogin.errors import InvalidRequest

MAX_NICKNAME_LENGTH = 64
MAX_AVATAR_URL_LENGTH = 1024
_HOSTNAME = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?", re.ASCII)
# WeChat's avatar hosts (wx.qlogo.cn, thirdwx.qlogo.cn): older clients hand their URLs over http, and the same
# paths are served over https, as getUserProfile hands them out today.
_WECHAT_AVATAR_HTTP = re.compile(r"http://(?:[a-z0-9-]+\.)*qlogo\.cn/", re.ASCII | re.IGNORECASE)


def plain_text(name: str, value: object, max_length: int) -> str:
    """A non-blank string of at most `max_length` characters, none of them a control character or lone surrogate."""
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise InvalidRequest(f"{name} must be 1 to {max_length} characters.")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise InvalidRequest(f"{name} must not contain control characters.")
    return value


def nickname(value: object) -> str:
    return plain_text("nickName", value, MAX_NICKNAME_LENGTH)


def avatar_url(value: object) -> str:
    if not isinstance(value, str) or len(value) > MAX_AVATAR_URL_LENGTH:
        raise InvalidRequest(f"avatarUrl must be an https URL of at most {MAX_AVATAR_URL_LENGTH} characters.")
    try:
        parts = urlsplit(value)
    except ValueError:
        raise InvalidRequest("avatarUrl must be an https URL.") from None
    if parts.scheme != "https" or not parts.hostname or "@" in parts.netloc or not _HOSTNAME.fullmatch(parts.netloc):
        raise InvalidRequest("avatarUrl must be an https URL.")
    if any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise InvalidRequest("avatarUrl must be an https URL.")
    return value


def wechat_avatar_url(value: object) -> str:
    """avatarUrl as WeChat's decrypted data gives it: an https URL, or an http one of WeChat's avatar hosts, which
    is kept as its https form (WeChat's own decryption sample has such a URL), so that a user is never refused for
    what WeChat hands over and every stored avatarUrl stays https."""
    if isinstance(value, str) and _WECHAT_AVATAR_HTTP.match(value):
        value = "https" + value[len("http") :]
    return avatar_url(value)
