"""WeChat access tokens, one per appid, shared by every Lambda instance.

The classic failure is many servers each refreshing the token and so
invalidating each other's (40001 storms). Here the token lives in DynamoDB;
it is refreshed from WeChat's stable-token API a little before it expires,
under a lease taken with a conditional write, so concurrent instances cause at
most one refresh while the others wait for it or keep using the still-valid
old token. A token WeChat rejects is refreshed once and the call retried.

Each instance also keeps the token in memory until its refresh window, so a
warm request reads no DynamoDB item for it and the `APP#<appid>` item is read
about once per instance and token lifetime instead of once per request.
"""

from __future__ import annotations

import secrets
import time

from wxlogin.errors import WeChatUnavailable
from wxlogin.keys.appsecrets import AppSecrets
from wxlogin.storage.access_token_store import AccessTokenStore, token_id
from wxlogin.wechat.client import WeChatClient
from wxlogin.wechat.errors import ACCESS_TOKEN_REJECTED, WeChatApiError, contract_error

# WeChat renews a stable token 5 minutes before it expires; refreshing in that window gets the new one.
REFRESH_MARGIN_SECONDS = 300
LEASE_SECONDS = 10


class AccessTokens:
    def __init__(
        self,
        store: AccessTokenStore,
        wechat: WeChatClient,
        app_secrets: AppSecrets,
        clock=time.time,
        sleep=time.sleep,
        wait_seconds: float = 3.0,
    ):
        self.store = store
        self.wechat = wechat
        self.app_secrets = app_secrets
        self.clock = clock
        self.sleep = sleep
        self.wait_seconds = wait_seconds
        # appid -> (token, expires at): this instance's copy, used until its refresh window opens.
        self._held: dict[str, tuple[str, int]] = {}

    def clear_cache(self) -> None:
        """Forget the tokens held in memory: the next request reads the table, as a new instance would."""
        self._held.clear()

    def get(self, appid: str, deadline: float | None) -> str:
        """A valid access token for the app, refreshing it when it is close to expiry; no wait on WeChat or
        on another instance's refresh lasts past `deadline` (epoch seconds)."""
        now = self.clock()
        held = self._held.get(appid)
        if held is not None and held[1] - REFRESH_MARGIN_SECONDS > now:
            return held[0]
        stored = self.store.get(appid)
        usable = stored is not None and stored.token is not None
        if usable and stored.expires_at - REFRESH_MARGIN_SECONDS > now:
            self._held[appid] = (stored.token, stored.expires_at)
            return stored.token
        still_valid = stored.token if usable and stored.expires_at > now + 1 else None
        return self._refresh(appid, deadline, stale_id=stored.token_id if stored else None, fallback=still_valid)

    def call(self, appid: str, api, deadline: float | None):
        """`api(token)` with the app's token; a token WeChat rejects is refreshed once and the call repeated."""
        token = self.get(appid, deadline)
        try:
            return api(token)
        except WeChatApiError as exc:
            if exc.errcode not in ACCESS_TOKEN_REJECTED:
                raise
        self._held.pop(appid, None)  # revoked (another instance forced a refresh, or WeChat reset it)
        return api(self._refresh(appid, deadline, stale_id=token_id(token), fallback=None, rejected=token))

    def _refresh(
        self,
        appid: str,
        deadline: float | None,
        stale_id: str | None,
        fallback: str | None,
        rejected: str | None = None,
    ) -> str:
        """A new token in place of the one with `stale_id` (None: there was none); `rejected`: the token WeChat
        just refused."""
        owner = secrets.token_hex(8)
        if not self.store.acquire_lease(appid, owner, self.clock(), LEASE_SECONDS, stale_id):
            return self._await_refresh(appid, deadline, stale_id, fallback)
        try:
            token, expires_in = self._fetch(appid, deadline, force=False)
            if rejected is not None and token == rejected:
                # Normal mode handed back the token WeChat just refused: only a forced refresh replaces it.
                token, expires_in = self._fetch(appid, deadline, force=True)
        except BaseException:
            self.store.release(appid, owner)
            raise
        expires_at = int(self.clock()) + expires_in
        self.store.save(appid, owner, token, expires_at)
        self._held[appid] = (token, expires_at)
        return token

    def _fetch(self, appid: str, deadline: float | None, force: bool) -> tuple[str, int]:
        try:
            return self.app_secrets.call_with_secret(
                appid, lambda secret: self.wechat.stable_token(appid, secret, deadline, force_refresh=force)
            )
        except WeChatApiError as exc:
            raise contract_error(exc.errcode) from None

    def _await_refresh(self, appid: str, deadline: float | None, stale_id: str | None, fallback: str | None) -> str:
        """Another instance holds the lease: use its new token as soon as it lands."""
        give_up = self.clock() + self.wait_seconds
        if deadline is not None:
            give_up = min(give_up, deadline)
        while True:
            stored = self.store.get(appid)
            fresh = stored is not None and stored.token is not None and stored.token_id != stale_id
            if fresh and stored.expires_at > self.clock():
                self._held[appid] = (stored.token, stored.expires_at)
                return stored.token
            if fallback is not None:
                return fallback  # the old token has minutes left; no need to wait for the new one
            if self.clock() >= give_up:
                raise WeChatUnavailable()
            self.sleep(0.05)
