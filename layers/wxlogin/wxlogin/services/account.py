"""The account routes' rules: what we show of the user, the nickname/avatar fill-in, erasure, logout."""

from __future__ import annotations

import time

from wxlogin.keys.tokens import TokenRef
from wxlogin.models import User
from wxlogin.storage.users import UserStore
from wxlogin.web.route_requests import MeRequest, UpdateMeRequest


def me_view(user: User, linked_apps: list[dict] | None = None) -> dict:
    view = {
        "openid": user.openid,
        "unionid": user.unionid,
        "claimedUnionid": user.claimed_unionid,
        "appid": user.appid,
        "profile": user.profile,
        "phone": user.phone,
        "createdAt": user.created_at,
        "lastLoginAt": user.last_login_at,
        "riskRank": user.risk_rank,
    }
    if linked_apps is not None:
        view["linkedApps"] = linked_apps
    return view


class AccountService:
    def __init__(self, store: UserStore, clock=time.time):
        self.store = store
        self.clock = clock

    def me(self, user: User, request: MeRequest) -> dict:
        # Only the app ids and openids of linked users: their profiles were given to the other apps.
        linked = self.store.linked_users(user) if request.include_linked_apps else None
        return me_view(user, linked)

    def update_me(self, user: User, request: UpdateMeRequest) -> dict:
        return me_view(self.store.update_user(user, request.fields))

    def delete_me(self, user: User, ref: TokenRef) -> None:
        self.store.delete_user(user, ref, self.clock())

    def logout(self, user: User, ref: TokenRef) -> None:
        """End the caller's session (`user` as that session found it): a session that no longer works (its user
        erased, signed out or blocked since) is not logged out again, and names nobody in the audit trail."""
        self.store.revoke_session(ref, user.generation, self.clock())
