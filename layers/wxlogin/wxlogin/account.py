"""The account routes: what we know of the user, the nickname/avatar fill-in, erasure."""

from __future__ import annotations

import re
import time
import unicodedata
from urllib.parse import urlsplit

from .errors import InvalidRequest
from .store import User, UserStore
from .tokens import TokenRef

MAX_NICKNAME_LENGTH = 64
MAX_AVATAR_URL_LENGTH = 1024
_HOSTNAME = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?", re.ASCII)


def me_view(user: User, linked_apps: list[dict] | None = None) -> dict:
    view = {
        "openid": user.openid,
        "unionid": user.unionid,
        "appid": user.appid,
        "profile": user.profile,
        "phone": user.phone,
        "createdAt": user.created_at,
        "lastLoginAt": user.last_login_at,
    }
    if linked_apps is not None:
        view["linkedApps"] = linked_apps
    return view


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


PATCHABLE = {"nickName": nickname, "avatarUrl": avatar_url}


def profile_patch(body: dict) -> dict:
    """The fields of a PATCH /v1/me body, validated; anything else is refused."""
    unknown = sorted(set(body) - set(PATCHABLE))
    if unknown:
        # Not echoed: a client's field name may not even be encodable in the answer.
        raise InvalidRequest("Only nickName and avatarUrl can be updated.")
    if not body:
        raise InvalidRequest("Send nickName and/or avatarUrl.")
    return {name: PATCHABLE[name](value) for name, value in body.items()}


class AccountService:
    def __init__(self, store: UserStore, clock=time.time):
        self.store = store
        self.clock = clock

    def logout(self, ref: TokenRef) -> None:
        self.store.revoke_session(ref, self.clock())

    def update_me(self, user: User, body: dict) -> dict:
        return me_view(self.store.update_user(user.user_id, profile_patch(body)))

    def delete_me(self, user: User, ref: TokenRef) -> None:
        self.store.delete_user(user.user_id, ref)
