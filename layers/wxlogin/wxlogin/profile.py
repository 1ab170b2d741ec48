"""Profile data a logged-in user forwards from the WeChat client."""

from __future__ import annotations

import time

from .models import User
from .route_requests import DecryptRequest
from .userdata import SessionIdentity, open_profile_data
from .users import UserStore


class ProfileService:
    def __init__(self, store: UserStore, watermark_max_age_seconds: int, clock=time.time):
        self.store = store
        self.watermark_max_age_seconds = watermark_max_age_seconds
        self.clock = clock

    def decrypt_profile(self, user: User, request: DecryptRequest) -> dict:
        identity = SessionIdentity(user.appid, user.openid, user.unionid, user.session_key)
        data = open_profile_data(identity, request.payload, self.watermark_max_age_seconds, self.clock())
        fields = dict(data.fields)
        if user.unionid is None and data.unionid:
            fields["unionid"] = data.unionid
        if fields:
            user = self.store.update_user(user.user_id, fields)
        return {"profile": user.profile, "unionid": user.unionid}
