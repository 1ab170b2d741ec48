"""The operator's actions on one user: find, show, block, unblock, sign out everywhere, export, erase, trail.

Reached only through the admin API, whose every route API Gateway authorizes with IAM (SigV4); the
operator's IAM ARN comes with the request and goes into the audit trail with each action, reads of a
user's data (show, export) included. A user is named by one identifier (web/admin_requests.py); an
action needs exactly one match (404 not_found, 409 ambiguous_user otherwise), `find` lists them all.
"""

from __future__ import annotations

import secrets
import time

from wxlogin.keys.serverkeys import ServerKeys
from wxlogin.keys.tokens import user_id_for
from wxlogin.models import User
from wxlogin.services.account import me_view
from wxlogin.services.phone_lookup import lookup_hashes
from wxlogin.storage.account_ids import AccountIds
from wxlogin.storage.audit import AuditTrail
from wxlogin.storage.dynamodb import iso_time
from wxlogin.storage.operator import AmbiguousUser, NotFound, OperatorStore
from wxlogin.web.admin_requests import AdminRequest, UserSelector

EXPORT_FORMAT = "wxlogin.user-export/1"


def subject(user: User) -> str | None:
    """The `sub` wxlogin's access tokens name this account by (what the services behind it key data on)."""
    return user.sub


class OperatorService:
    def __init__(
        self, store: OperatorStore, account_ids: AccountIds, trail: AuditTrail, keys: ServerKeys, clock=time.time
    ):
        self.store = store
        self.account_ids = account_ids
        self.trail = trail
        self.keys = keys
        self.clock = clock

    # --- finding -----------------------------------------------------------------------------------
    def _user_ids(self, selector: UserSelector) -> list[str]:
        if selector.sub is not None:
            user_id = self.account_ids.user_id(selector.sub, self.clock())
            return [user_id] if user_id is not None else []
        if selector.appid is not None:
            return [user_id_for(selector.appid, selector.openid)]
        if selector.unionid is not None:
            return self.store.user_ids_by_unionid(selector.unionid)
        found: set[str] = set()
        for phone_hash in lookup_hashes(self.keys, selector.phone):
            found.update(self.store.user_ids_by_phone_hash(phone_hash))
        return sorted(found)

    def _users(self, selector: UserSelector) -> list[User]:
        users = [user for user in map(self.store.user, self._user_ids(selector)) if user is not None]
        # A sub names one account: a user made anew after an erasure (a new sub) is not it.
        return [user for user in users if selector.sub is None or user.sub == selector.sub]

    def _one(self, selector: UserSelector) -> User:
        users = self._users(selector)
        if not users:
            raise NotFound()
        if len(users) > 1:
            raise AmbiguousUser()
        return users[0]

    def find(self, request: AdminRequest) -> dict:
        return {"users": [_summary(user) for user in self._users(request.selector)]}

    # --- reading -----------------------------------------------------------------------------------
    def show(self, request: AdminRequest) -> dict:
        user = self._one(request.selector)
        self._audit(user, "operator_show", request)
        return self._view(user)

    def export(self, request: AdminRequest) -> dict:
        """Everything kept about the user, as one document (the right of access): no secret, no token hash,
        no sealed session_key, no generation; the audit trail included."""
        user = self._one(request.selector)
        self._audit(user, "operator_export", request)
        now = self.clock()
        sessions = [
            {"createdAt": item.get("createdAt"), "expiresAt": iso_time(item["expiresAt"])}
            for item in self._live_sessions(user)
        ]
        return {
            "format": EXPORT_FORMAT,
            "exportedAt": iso_time(now),
            # What GET /v1/me shows (risk rank and a claimed unionid included) with the account's sub and block.
            "user": {**_summary(user), **me_view(user), "blocked": user.blocked},
            "sessions": sessions,
            "linkedApps": self.store.linked_users(user),
            "auditTrail": self.trail.entries(user.user_id, now),
        }

    def trail_of(self, request: AdminRequest) -> dict:
        """The user's audit trail, newest first. Named by sub or appid and openid, an erased user's trail too."""
        selector = request.selector
        if selector.sub is not None or selector.appid is not None:
            user_ids = self._user_ids(selector)
            if not user_ids:
                raise NotFound()
            user_id = user_ids[0]
        else:
            user_id = self._one(selector).user_id
        entries = self.trail.entries(user_id, self.clock())
        if not entries and self.store.user(user_id) is None:
            raise NotFound()
        return {"entries": entries}

    # --- changing ----------------------------------------------------------------------------------
    def block(self, request: AdminRequest) -> dict:
        """403 user_blocked from now on to login, refresh and every protected route; every session ends at
        once (a new generation). Access tokens already issued live out their TTL: nothing refreshes them."""
        user = self._one(request.selector)
        ended = len(self._live_sessions(user))
        blocked = self.store.block(user.user_id, request.reason, request.operator, self.clock())
        # The session items stay (dead under the new generation, gone by TTL), so a client that presents one
        # learns it is blocked (403) rather than logged out (401) and stops logging in again.
        self._audit(blocked, "operator_block", request, sessions_ended=ended)
        return self._view(blocked)

    def unblock(self, request: AdminRequest) -> dict:
        user = self._one(request.selector)
        unblocked = self.store.unblock(user.user_id)
        self._audit(unblocked, "operator_unblock", request)
        return self._view(unblocked)

    def sign_out(self, request: AdminRequest) -> dict:
        """Every session ends at once (a new generation); the account stays and may log in again."""
        user = self._one(request.selector)
        ended = len(self._live_sessions(user))
        user = self.store.new_generation(user.user_id)
        self._audit(user, "operator_signout", request, sessions_ended=ended)
        return {"sessionsEnded": ended, "user": self._view(user)}

    def erase(self, request: AdminRequest) -> dict:
        """The erasure DELETE /v1/me makes: the user deleted and its listed sessions ended, together."""
        user = self._one(request.selector)
        self.store.delete_user(user, None, self.clock())
        self._audit(user, "operator_erase", request)
        return {"erased": {"sub": subject(user), "appid": user.appid, "openid": user.openid}}

    # --- helpers -----------------------------------------------------------------------------------
    def _live_sessions(self, user: User) -> list[dict]:
        """The user's listed sessions that still let their client in: unexpired, under the user's generation."""
        now = self.clock()
        return [
            item
            for item in self.store.listed_sessions(user)
            if item.get("gen") == user.generation and item.get("expiresAt", 0) > now
        ]

    def _view(self, user: User) -> dict:
        """What GET /v1/me shows, with the account's sub, live sessions and block."""
        return {
            "sub": subject(user),
            **me_view(user),
            "sessions": len(self._live_sessions(user)),
            "blocked": user.blocked,
        }

    def _audit(self, user: User, action: str, request: AdminRequest, sessions_ended: int | None = None) -> None:
        now = self.clock()
        entry = {
            "time": iso_time(now),
            "action": action,
            "actor": request.operator,
            "sub": subject(user),
            "appid": user.appid,
            "openid": user.openid,
            "reason": request.reason,
            "sessionsEnded": sessions_ended,
        }
        self.trail.add(user.user_id, entry, secrets.token_hex(8), now)


def _summary(user: User) -> dict:
    return {
        "sub": subject(user),
        "appid": user.appid,
        "openid": user.openid,
        "unionid": user.unionid,
        "createdAt": user.created_at,
        "lastLoginAt": user.last_login_at,
        "blocked": user.blocked is not None,
    }
