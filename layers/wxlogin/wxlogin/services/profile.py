"""Profile data a logged-in user forwards from the WeChat client."""

from __future__ import annotations

import time

from wxlogin.errors import InvalidEncryptedData
from wxlogin.keys.serverkeys import ServerKeys
from wxlogin.models import User
from wxlogin.services.userdata import SessionIdentity, open_profile_data
from wxlogin.storage.users import UserStore, user_pk
from wxlogin.web.route_requests import DecryptRequest


def stored_identity(user: User, keys: ServerKeys) -> SessionIdentity:
    """The user's identity with the session_key of their latest login, opened from its sealed form; a sealed value
    that does not open is the contract's 422 (log in again and fetch the data anew), never a fault."""
    if user.sealed_session_key is None or user.generation is None:
        raise InvalidEncryptedData()
    session_key = keys.open_text("session_key", user_pk(user.user_id), user.generation, user.sealed_session_key)
    if session_key is None:
        # Sealed for another item or generation, or under a retired data key: stale, as after a new wx.login.
        raise InvalidEncryptedData()
    # A claimed unionid is held to as a known one: later data may repeat it, never name another.
    return SessionIdentity(user.appid, user.openid, user.unionid or user.claimed_unionid, session_key)


class ProfileService:
    def __init__(self, store: UserStore, keys: ServerKeys, watermark_max_age_seconds: int, clock=time.time):
        self.store = store
        self.keys = keys
        self.watermark_max_age_seconds = watermark_max_age_seconds
        self.clock = clock

    def decrypt_profile(self, user: User, request: DecryptRequest) -> dict:
        identity = stored_identity(user, self.keys)
        data = open_profile_data(identity, request.payload, self.watermark_max_age_seconds, self.clock())
        fields = dict(data.fields)
        if user.unionid is None and data.unionid:
            # Only the client's relay of WeChat's word: kept apart until a jscode2session answer confirms it.
            fields["claimedUnionid"] = data.unionid
        if fields:
            user = self.store.update_user(user, fields)
        return {"profile": user.profile, "unionid": user.unionid, "claimedUnionid": user.claimed_unionid}
