"""Profile data a logged-in user forwards from the WeChat client."""

from __future__ import annotations

import time

from wxlogin.keys.tokens import TokenRef
from wxlogin.models import User
from wxlogin.services.session_keys import StoredSessionKeys
from wxlogin.services.userdata import open_profile_data
from wxlogin.storage.users import UserStore
from wxlogin.web.route_requests import DecryptRequest


class ProfileService:
    def __init__(
        self, store: UserStore, session_keys: StoredSessionKeys, watermark_max_age_seconds: int, clock=time.time
    ):
        self.store = store
        self.session_keys = session_keys
        self.watermark_max_age_seconds = watermark_max_age_seconds
        self.clock = clock

    def decrypt_profile(self, user: User, ref: TokenRef, request: DecryptRequest, deadline: float) -> dict:
        """`deadline`: when (epoch seconds) this invocation must answer."""
        now = self.clock()
        data = self.session_keys.open(
            user,
            ref,
            lambda identity: open_profile_data(identity, request.payload, self.watermark_max_age_seconds, now),
            deadline,
        )
        fields = dict(data.fields)
        if user.unionid is None and data.unionid:
            # Only the client's relay of WeChat's word: kept apart until a jscode2session answer confirms it.
            fields["claimedUnionid"] = data.unionid
        if fields:
            user = self.store.update_user(user, fields)
        return {"profile": user.profile, "unionid": user.unionid, "claimedUnionid": user.claimed_unionid}
