"""Opening a user's encrypted data with the session_keys the server holds, and telling a stale key from bad data.

The WeChat client encrypts with the session_key of the device's latest wx.login, and the failure every WeChat
SDK's users report is data obtained just before another wx.login (a second page, a re-login after a token
expired, two logins racing at start-up). So a login keeps the key it replaces for SESSION_KEY_GRACE_SECONDS
(users.py), and data is tried with the current key, then with that previous one while it lasts. Both are WeChat's
own keys for this user, so every check (exact shape, openId, watermark) runs as it does for one key, and a
forgery gains nothing from the second key that it could not get from the first.

When neither key opens the data the answer is the one 422, unless WeChat's checkSessionKey says the current key
is no longer the user's: then 401 session_key_expired tells the client to log in again before it asks for the
data anew. That check depends only on the stored key, never on the data, so the answers are still no
decryption oracle; and a session asks WeChat at most once per SESSION_KEY_CHECK_INTERVAL_SECONDS (a conditional
write on its session item), so junk data cannot become WeChat traffic. When WeChat cannot be asked, the answer
is the 422, as it would be without the check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from wxlogin.errors import InvalidEncryptedData, SessionKeyExpired, WxLoginError
from wxlogin.keys.serverkeys import ServerKeys
from wxlogin.keys.tokens import TokenRef
from wxlogin.models import User
from wxlogin.services.userdata import SessionIdentity
from wxlogin.storage.users import UserStore, user_pk
from wxlogin.wechat.access_token import AccessTokens
from wxlogin.wechat.client import WeChatClient
from wxlogin.wechat.errors import WeChatApiError, WeChatErrcode

Opened = TypeVar("Opened")


class SessionKeyCheck:
    """WeChat's checkSessionKey of a user's current session_key, at most once per session per interval."""

    def __init__(self, store: UserStore, access_tokens: AccessTokens, wechat: WeChatClient, interval_seconds: int):
        self.store = store
        self.access_tokens = access_tokens
        self.wechat = wechat
        self.interval_seconds = interval_seconds

    def is_stale(self, user: User, ref: TokenRef, session_key: str, now: float, deadline: float) -> bool:
        """True only when WeChat answered that `session_key` is not the user's current one (87009); WeChat is
        waited for until `deadline` (epoch seconds) at the latest."""
        if not self.interval_seconds:
            return False
        try:
            if not self.store.claim_key_check(ref, user.generation, now, self.interval_seconds):
                return False
            self.access_tokens.call(
                user.appid,
                lambda token: self.wechat.check_session_key(token, user.openid, session_key, deadline),
                deadline,
            )
        except WeChatApiError as exc:
            return exc.errcode == WeChatErrcode.INVALID_SIGNATURE
        except WxLoginError:
            return False  # WeChat, the access token or the table could not answer: no verdict
        return False


class StoredSessionKeys:
    """The current session_key, then the previous one while its grace lasts, for data a user forwards."""

    def __init__(self, keys: ServerKeys, check: SessionKeyCheck | None = None, clock=time.time):
        self.keys = keys
        self.check = check
        self.clock = clock

    def open(
        self, user: User, ref: TokenRef, open_data: Callable[[SessionIdentity], Opened], deadline: float
    ) -> Opened:
        """`open_data(identity)` with the first stored key it accepts; it raises InvalidEncryptedData for a key
        that does not open the data. Neither: SessionKeyExpired when WeChat (asked until `deadline` at the
        latest) says the current key is stale, else InvalidEncryptedData. A sealed key that does not open
        (another item or generation, a retired data key) counts as no key: stale, as after a new wx.login,
        never a fault."""
        now = self.clock()
        session_key = self._unseal(user, user.sealed_session_key)
        if session_key is None:
            raise InvalidEncryptedData()
        current = self._identity(user, session_key)
        try:
            return open_data(current)
        except InvalidEncryptedData:
            pass
        previous = self._previous(user, now)
        if previous is not None:
            try:
                return open_data(previous)
            except InvalidEncryptedData:
                pass
        if self.check is not None and self.check.is_stale(user, ref, current.session_key, now, deadline):
            raise SessionKeyExpired()
        raise InvalidEncryptedData()

    def _previous(self, user: User, now: float) -> SessionIdentity | None:
        until = user.previous_session_key_until
        if until is None or until <= now:
            return None
        session_key = self._unseal(user, user.sealed_previous_session_key)
        return None if session_key is None else self._identity(user, session_key)

    def _unseal(self, user: User, sealed: bytes | None) -> str | None:
        # The previous key was sealed exactly as the current one was: same purpose, item and generation.
        if sealed is None or user.generation is None:
            return None
        return self.keys.open_text("session_key", user_pk(user.user_id), user.generation, sealed)

    @staticmethod
    def _identity(user: User, session_key: str) -> SessionIdentity:
        # A claimed unionid is held to as a known one: later data may repeat it, never name another.
        return SessionIdentity(user.appid, user.openid, user.unionid or user.claimed_unionid, session_key)
