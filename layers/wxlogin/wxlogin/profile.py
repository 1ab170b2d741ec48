"""Profile data a logged-in user forwards from the WeChat client."""

from __future__ import annotations

import time

from .models import User
from .route_requests import DecryptRequest
from .userdata import EncryptedPayload, SessionIdentity, open_user_data, profile_fields
from .users import UserStore


class ProfileService:
    def __init__(self, store: UserStore, watermark_max_age_seconds: int, clock=time.time):
        self.store = store
        self.watermark_max_age_seconds = watermark_max_age_seconds
        self.clock = clock

    def _open(self, user: User, payload: EncryptedPayload) -> dict:
        identity = SessionIdentity(user.appid, user.openid, user.unionid, user.session_key)
        return open_user_data(identity, payload, self.watermark_max_age_seconds, self.clock())

    def decrypt_profile(self, user: User, request: DecryptRequest) -> dict:
        data = self._open(user, request.payload)
        fields = profile_fields(data)
        if user.unionid is None and data.get("unionId"):
            fields["unionid"] = data["unionId"]
        if fields:
            user = self.store.update_user(user.user_id, fields)
        return {"profile": user.profile, "unionid": user.unionid}
