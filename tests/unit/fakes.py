"""Small in-memory stand-ins for the repositories, the WeChat client and Secrets Manager.

They keep the repositories' contracts (a conditional write that fails returns False or raises
what the real one raises), so the services run exactly as in Lambda, only without moto or sockets.
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache

from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from local.wechat_simulator import encrypt_user_data
from tests.support.values import APPID, OPENID, SESSION_KEY
from wxlogin.errors import InvalidEncryptedData, Unauthorized
from wxlogin.keys.serverkeys import ServerKeys
from wxlogin.models import PHONE_FIELDS, PROFILE_FIELDS, StoredAccessToken, User
from wxlogin.records import replace
from wxlogin.services.userdata import EncryptedPayload
from wxlogin.storage.access_token_store import token_id
from wxlogin.storage.users import MAX_WAITERS, SESSIONS_LISTED, LoginRetry, Session, SessionRecord, user_pk
from wxlogin.wechat.client import WeChatSession
from wxlogin.wechat.errors import WeChatApiError

NOW = 1_700_000_000.0
DEADLINE = NOW + 10  # when the invocation under test must answer


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


KEYS = ServerKeys(lambda: {"current": "k1", "k1": "unit-test-key-material-" + "0" * 16})
GENERATION = "gen-1"
SUB = "account-1"


@lru_cache
def _sealed_session_key(user_id: str) -> bytes:
    # Sealed once per user, so two user() of one id compare equal.
    return KEYS.seal_text("session_key", user_pk(user_id), GENERATION, SESSION_KEY)


def user(user_id="u1", appid=APPID, openid=OPENID, unionid=None, profile=None, phone=None) -> User:
    when = "2023-11-14T22:13:20Z"
    sealed = _sealed_session_key(user_id)
    return User(user_id, appid, openid, unionid, sealed, profile, phone, when, when, GENERATION, SUB)


def live(expires_at: float, generation: str = GENERATION) -> Session:
    return Session(int(expires_at), generation)


# The keys WeChat's profile data always has, as for a user who shares nothing (gender 0: unknown).
WECHAT_PROFILE = {"nickName": "", "gender": 0, "city": "", "province": "", "country": "", "avatarUrl": ""}


def payload(data: dict, session_key: str = SESSION_KEY) -> EncryptedPayload:
    encrypted, iv = encrypt_user_data(session_key, data)
    return EncryptedPayload(ciphertext=base64.b64decode(encrypted), iv=base64.b64decode(iv))


class Users:
    """UserStore in memory: users, sessions (ref -> Session) and keyed logins' retry records (session id ->
    LoginRetry; a failed login's record has no session).

    `calls` names each operation as the real store would send it to DynamoDB."""

    def __init__(self, *users: User):
        self.users = {u.user_id: u for u in users}
        self.sessions: dict = {}
        self.retries: dict[str, LoginRetry] = {}
        self.waiting: dict[str, dict] = {}  # session id -> a retry's waiting record
        self.linked: list[dict] = []
        self.calls: list[str] = []
        self.key_checked: dict = {}  # session ref -> when it last asked WeChat's checksession
        self.forgotten: set[str] = set()  # session ids an erasure ended: their items name no user any more

    @property
    def logins(self) -> int:
        return self.calls.count("record_login")

    def record_login(
        self,
        user_id,
        fields,
        login_id,
        generation,
        now,
        seal_session_key,
        claimed_unionid=None,
        previous_key_until=None,
        session=None,
    ):
        self.calls.append("record_login")
        existing = self.users.get(user_id)
        generation = existing.generation if existing else generation
        previous = existing.sealed_session_key if existing and previous_key_until is not None else None
        known = (existing.unionid or existing.claimed_unionid) if existing else None
        if claimed_unionid is not None and known not in (None, claimed_unionid):
            raise InvalidEncryptedData()
        profile = {**((existing and existing.profile) or {}), **{k: fields[k] for k in PROFILE_FIELDS if k in fields}}
        unionid = fields.get("unionid") or (existing.unionid if existing else None)
        claimed = None if unionid else (claimed_unionid or (existing.claimed_unionid if existing else None))
        listed = dict((existing and existing.listed_sessions) or {})
        if session is not None:
            # As users.py keeps the list: the new session, the expired dropped, the newest SESSIONS_LISTED kept.
            listed = {sid: until for sid, until in listed.items() if until > now and sid != session.session_id}
            kept = sorted(listed.items(), key=lambda entry: entry[1])[-(SESSIONS_LISTED - 1) :]
            listed = {**dict(kept), session.session_id: session.expires_at}
        self.users[user_id] = User(
            user_id,
            fields["appid"],
            fields["openid"],
            unionid,
            seal_session_key(generation),
            profile or None,
            existing.phone if existing else None,
            existing.created_at if existing else "created",
            "now",
            generation,
            existing.sub if existing else f"account-{len(self.users) + 1}-{generation}",
            claimed,
            sealed_previous_session_key=previous,
            previous_session_key_until=previous_key_until,
            risk_rank=fields.get("riskRank", existing.risk_rank if existing else None),
            listed_sessions=listed or None,
        )
        return self.users[user_id], existing is None

    def is_known(self, user_id):
        self.calls.append("is_known")
        return user_id in self.users

    def claim_key_check(self, ref, generation, now, interval):
        self.calls.append("claim_key_check")
        session = self.sessions.get(ref)
        if session is None or session.generation != generation or self.key_checked.get(ref, -interval) > now - interval:
            return False
        self.key_checked[ref] = now
        return True

    def _session_ref(self, session_id):
        return next((ref for ref in self.sessions if ref.session_id == session_id), None)

    def put_session(self, ref, generation, expires_at, now, retry=None):
        self.calls.append("put_session")
        there = self._session_ref(ref.session_id)
        if there is not None or ref.session_id in self.retries:
            return there == ref
        self.waiting.pop(ref.session_id, None)  # a session replaces a retry's waiting record
        self.sessions[ref] = Session(expires_at, generation)
        if retry is not None:
            self.retries[ref.session_id] = retry
        return True

    def put_failed_login(self, session_id, key_check, kid, expires_at):
        self.calls.append("put_failed_login")
        if self._session_ref(session_id) is None and session_id not in self.retries:
            self.waiting.pop(session_id, None)
            self.retries[session_id] = LoginRetry(key_check, kid, None, expires_at)

    def put_waiting(self, session_id, key_check, wait_until, expires_at):
        self.calls.append("put_waiting")
        if self._session_ref(session_id) is not None or session_id in self.retries or session_id in self.waiting:
            return False
        self.waiting[session_id] = {"key": key_check, "until": wait_until, "waiters": 1, "expires_at": expires_at}
        return True

    def join_wait(self, session_id, key_check, now):
        self.calls.append("join_wait")
        record = self.waiting.get(session_id)
        if record is None or record["key"] != key_check or record["until"] <= now or record["waiters"] >= MAX_WAITERS:
            return None
        record["waiters"] += 1
        return record["until"]

    def session_record(self, session_id):
        self.calls.append("session_record")
        ref, retry = self._session_ref(session_id), self.retries.get(session_id)
        if ref is not None:
            return SessionRecord(ref.token_hash, self.sessions[ref].expires_at, retry)
        if retry is not None:
            return SessionRecord(None, retry.retry_until, retry)
        waiting = self.waiting.get(session_id)
        return SessionRecord(None, waiting["expires_at"], None) if waiting is not None else None

    def end_session(self, ref, now, forget_user=False):
        """What logout and erasure leave of a session: its item, expired, without its answer (and after an
        erasure, without what tied it to the user: no token opens it, a retry of its login still finds it)."""
        session = self.sessions.get(ref)
        if session is not None:
            self.sessions[ref] = Session(int(now), None if forget_user else session.generation)
        if forget_user:
            self.forgotten.add(ref.session_id)
        retry = self.retries.get(ref.session_id)
        if retry is not None:
            self.retries[ref.session_id] = LoginRetry(retry.key_check, retry.kid, None, retry.retry_until)

    def session_with_user(self, ref):
        self.calls.append("session_with_user")
        session = None if ref.session_id in self.forgotten else self.sessions.get(ref)
        return session, self.users.get(ref.user_id)

    def update_user(self, user, fields):
        user_id = user.user_id
        existing = self.users.get(user_id)
        if existing is None or existing.generation != user.generation:
            raise Unauthorized()
        profile = {**(existing.profile or {}), **{k: fields[k] for k in PROFILE_FIELDS if k in fields}}
        phone = {**(existing.phone or {}), **{k: fields[k] for k in PHONE_FIELDS if k in fields}}
        claimed = fields.get("claimedUnionid", existing.claimed_unionid)
        updated = replace(existing, claimed_unionid=claimed, profile=profile or None, phone=phone or None)
        self.users[user_id] = updated
        return updated

    def revoke_session(self, ref, generation, now):
        session = self.sessions.get(ref)
        if session is None or session.expires_at <= now or session.generation != generation:
            raise Unauthorized()
        self.end_session(ref, now)

    def delete_user(self, user, current, now):
        user_id = user.user_id
        existing = self.users.get(user_id)
        if existing is None:
            return  # erased already: nothing left to do
        if existing.generation != user.generation:
            raise Unauthorized()
        self.users.pop(user_id, None)
        # The listed sessions and the caller's end; any other holds a generation no user item has any more.
        for ref in [ref for ref in self.sessions if ref.user_id == user_id]:
            if ref == current or ref.session_id in (user.listed_sessions or {}):
                self.end_session(ref, now, forget_user=True)

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
        token = self.item["accessToken"]
        return StoredAccessToken(token, self.item["expiresAt"], token_id(token))

    def acquire_lease(self, appid, owner, now, lease_seconds, stale_id):
        held = self.item.get("leaseUntil", 0) >= now
        stored = self.item.get("accessToken")
        if held or (token_id(stored) if stored else None) != stale_id:
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

    def __init__(self, sessions=(), tokens=(), phones=(), key_checks=(), risk_ranks=()):
        self.script = {
            "code_to_session": list(sessions),
            "stable_token": list(tokens),
            "phone_number": list(phones),
            # None: the key is valid; an int: that errcode (87009: stale).
            "check_session_key": list(key_checks),
            "user_risk_rank": list(risk_ranks),
        }
        self.calls: list[tuple] = []
        self.deadlines: list[float | None] = []  # each call's, in order

    def _next(self, api, *args, errcodes=True):
        self.calls.append((api, *args))
        result = self.script[api].pop(0)
        if isinstance(result, BaseException):
            raise result
        if errcodes and isinstance(result, int):
            raise WeChatApiError(result)
        return result

    def code_to_session(self, appid, secret, code, deadline):
        self.deadlines.append(deadline)
        return self._next("code_to_session", appid, secret, code)

    def stable_token(self, appid, secret, deadline, force_refresh=False):
        self.deadlines.append(deadline)
        return self._next("stable_token", appid, secret, force_refresh)

    def phone_number(self, access_token, code, openid, deadline):
        self.deadlines.append(deadline)
        return self._next("phone_number", access_token, code, openid)

    def check_session_key(self, access_token, openid, session_key, deadline):
        self._next("check_session_key", access_token, openid, session_key)

    def user_risk_rank(self, access_token, appid, openid, client_ip, scene, deadline):
        # A rank is an int too: an errcode is scripted as a WeChatApiError.
        return self._next("user_risk_rank", access_token, appid, openid, client_ip, scene, errcodes=False)

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
