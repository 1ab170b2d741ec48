"""Small in-memory stand-ins for the repositories, the WeChat client and Secrets Manager.

They keep the repositories' contracts (a conditional write that fails returns False or raises
what the real one raises), so the services run exactly as in Lambda, only without moto or sockets.
"""

from __future__ import annotations

import base64
import json

from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from local.wechat_simulator import encrypt_user_data
from tests.support.values import APPID, OPENID, SESSION_KEY
from wxlogin.errors import Unauthorized
from wxlogin.models import PHONE_FIELDS, PROFILE_FIELDS, StoredAccessToken, User
from wxlogin.userdata import EncryptedPayload
from wxlogin.wechat import WeChatSession
from wxlogin.wechat_errors import WeChatApiError

NOW = 1_700_000_000.0


class Clock:
    """A clock that moves only when the code under test sleeps (or a test says so)."""

    def __init__(self, now: float = NOW):
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def user(user_id="u1", appid=APPID, openid=OPENID, unionid=None, profile=None, phone=None) -> User:
    when = "2023-11-14T22:13:20Z"
    return User(user_id, appid, openid, unionid, SESSION_KEY, profile, phone, when, when)


def payload(data: dict, session_key: str = SESSION_KEY) -> EncryptedPayload:
    encrypted, iv = encrypt_user_data(session_key, data)
    return EncryptedPayload(ciphertext=base64.b64decode(encrypted), iv=base64.b64decode(iv))


class Users:
    """UserStore in memory: users, sessions (ref -> expiresAt) and sealed login-retry records."""

    def __init__(self, *users: User):
        self.users = {u.user_id: u for u in users}
        self.sessions: dict = {}
        self.retries: dict = {}
        self.linked: list[dict] = []
        self.logins = 0

    def get_user(self, user_id):
        return self.users.get(user_id)

    def save_login(self, user_id, fields, session, session_expires_at, now, retry_record=None):
        self.logins += 1
        existing = self.users.get(user_id)
        profile = {**((existing and existing.profile) or {}), **{k: fields[k] for k in PROFILE_FIELDS if k in fields}}
        self.users[user_id] = User(
            user_id,
            fields["appid"],
            fields["openid"],
            fields.get("unionid", existing.unionid if existing else None),
            fields["sessionKey"],
            profile or None,
            existing.phone if existing else None,
            existing.created_at if existing else "created",
            "now",
        )
        self.sessions[session] = session_expires_at
        if retry_record is not None:
            record_id, sealed, expires_at = retry_record
            self.retries[record_id] = (sealed, expires_at)

    def get_login_retry(self, record_id, now):
        sealed, expires_at = self.retries.get(record_id, (None, 0))
        return sealed if expires_at > now else None

    def session_with_user(self, ref):
        return self.sessions.get(ref), self.users.get(ref.user_id)

    def update_user(self, user_id, fields):
        existing = self.users.get(user_id)
        if existing is None:
            raise Unauthorized()
        profile = {**(existing.profile or {}), **{k: fields[k] for k in PROFILE_FIELDS if k in fields}}
        phone = {**(existing.phone or {}), **{k: fields[k] for k in PHONE_FIELDS if k in fields}}
        unionid = fields.get("unionid", existing.unionid)
        updated = User(
            user_id, existing.appid, existing.openid, unionid, existing.session_key,
            profile or None, phone or None, existing.created_at, existing.last_login_at,
        )  # fmt: skip
        self.users[user_id] = updated
        return updated

    def revoke_session(self, ref, now):
        if self.sessions.pop(ref, 0) <= now:
            raise Unauthorized()

    def delete_user(self, user_id, current):
        self.users.pop(user_id, None)
        self.sessions = {ref: at for ref, at in self.sessions.items() if ref.user_id != user_id}

    def linked_users(self, user):
        return self.linked


class AccessTokenTable:
    """AccessTokenStore in memory, with the lease's conditions."""

    def __init__(self, token: str | None = None, expires_at: int = 0):
        self.item = {"accessToken": token, "expiresAt": expires_at} if token else {}
        self.on_get = None  # called before each read: another instance's write lands meanwhile

    def get(self, appid):
        if self.on_get is not None:
            self.on_get(self)
        if not self.item.get("accessToken"):
            return None
        return StoredAccessToken(self.item["accessToken"], self.item["expiresAt"])

    def acquire_lease(self, appid, owner, now, lease_seconds, stale):
        held = self.item.get("leaseUntil", 0) >= now
        if held or self.item.get("accessToken") != stale:
            return False
        self.item.update(leaseOwner=owner, leaseUntil=int(now) + lease_seconds)
        return True

    def save(self, appid, owner, token, expires_at):
        if self.item.get("leaseOwner") == owner:
            self.item = {"accessToken": token, "expiresAt": expires_at}

    def release(self, appid, owner):
        if self.item.get("leaseOwner") == owner:
            self.item.pop("leaseOwner")
            self.item.pop("leaseUntil")


class WeChat:
    """The WeChat client: each API answers from a script of results (an int is that errcode)."""

    def __init__(self, sessions=(), tokens=(), phones=()):
        self.script = {"code_to_session": list(sessions), "stable_token": list(tokens), "phone_number": list(phones)}
        self.calls: list[tuple] = []

    def _next(self, api, *args):
        self.calls.append((api, *args))
        result = self.script[api].pop(0)
        if isinstance(result, int):
            raise WeChatApiError(result)
        return result

    def code_to_session(self, appid, secret, code):
        return self._next("code_to_session", appid, secret, code)

    def stable_token(self, appid, secret, force_refresh=False):
        return self._next("stable_token", appid, secret, force_refresh)

    def phone_number(self, access_token, code):
        return self._next("phone_number", access_token, code)

    def count(self, api: str) -> int:
        return sum(1 for call in self.calls if call[0] == api)


def session(openid=OPENID, unionid=None, session_key=SESSION_KEY) -> WeChatSession:
    return WeChatSession(openid=openid, session_key=session_key, unionid=unionid)


class SecretsProvider:
    """A Powertools SecretsProvider's `get`, with its cache: what Secrets Manager holds is `value`."""

    def __init__(self, value):
        self.value = value
        self.cached = None
        self.fetches = 0

    def get(self, name, max_age=None, transform=None, force_fetch=False):
        if self.cached is None or force_fetch:
            if isinstance(self.value, Exception):
                raise GetParameterError("denied")
            self.fetches += 1
            self.cached = json.loads(self.value) if transform == "json" else self.value
        return self.cached

    def clear_cache(self):
        self.cached = None
