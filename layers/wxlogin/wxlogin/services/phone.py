"""Binding a phone number to the user, from either getPhoneNumber flow.

Current clients send the button's one-time `code`, which WeChat's
getuserphonenumber API turns into the number (with an access token); older
ones send `encryptedData`/`iv`, decrypted with the stored session_key like a
profile. Either way WeChat vouches for the number; the client never does.
"""

from __future__ import annotations

import time

from wxlogin.aws import STORE_RESERVE_SECONDS
from wxlogin.errors import InvalidEncryptedData, WeChatError
from wxlogin.keys.crypto import check_watermark
from wxlogin.keys.tokens import TokenRef
from wxlogin.models import PHONE_FIELDS, User
from wxlogin.services.phone_lookup import phone_hash
from wxlogin.services.session_keys import StoredSessionKeys
from wxlogin.services.userdata import EncryptedPayload, open_phone_data, phone_fields
from wxlogin.storage.users import UserStore
from wxlogin.web.route_requests import PhoneRequest
from wxlogin.wechat.access_token import AccessTokens
from wxlogin.wechat.client import WeChatClient
from wxlogin.wechat.errors import WeChatApiError, contract_error


class PhoneService:
    def __init__(
        self,
        store: UserStore,
        access_tokens: AccessTokens,
        wechat: WeChatClient,
        session_keys: StoredSessionKeys,
        watermark_max_age_seconds: int,
        clock=time.time,
    ):
        self.store = store
        self.access_tokens = access_tokens
        self.wechat = wechat
        self.session_keys = session_keys
        self.watermark_max_age_seconds = watermark_max_age_seconds
        self.clock = clock

    def bind(self, user: User, ref: TokenRef, request: PhoneRequest, deadline: float) -> dict:
        """`deadline`: when (epoch seconds) this invocation must answer."""
        if request.code is not None:
            return self.bind_by_code(user, request.code, deadline)
        return self.bind_by_encrypted_data(user, ref, request.encrypted, deadline)

    def bind_by_code(self, user: User, code: str, deadline: float) -> dict:
        # WeChat's share of the time ends early enough to store the number it gave (and a new access token).
        wechat_deadline = deadline - STORE_RESERVE_SECONDS
        try:
            # Redeemed with the session's openid: WeChat refuses a code another user's button gave.
            info = self.access_tokens.call(
                user.appid,
                lambda token: self.wechat.phone_number(token, code, user.openid, wechat_deadline),
                wechat_deadline,
            )
        except WeChatApiError as exc:
            raise contract_error(exc.errcode, phone_code=True) from None
        try:
            # The number is fresh from WeChat: only the app matters, not the watermark's age.
            check_watermark(info, user.appid, 0, self.clock())
            fields = phone_fields(info, country_code_may_be_number=True)
        except InvalidEncryptedData:
            raise WeChatError() from None
        return self._keep(user, fields)

    def bind_by_encrypted_data(self, user: User, ref: TokenRef, payload: EncryptedPayload, deadline: float) -> dict:
        now = self.clock()
        fields = self.session_keys.open(
            user,
            ref,
            lambda identity: open_phone_data(identity, payload, self.watermark_max_age_seconds, now),
            deadline,
        )
        return self._keep(user, fields)

    def _keep(self, user: User, fields: dict) -> dict:
        # Its keyed hash too, so an operator finds the user by the number (phone_lookup.py).
        stored = self.store.update_user(user, {**fields, "phoneHash": phone_hash(self.session_keys.keys, fields)})
        return {name: stored.phone.get(name) for name in PHONE_FIELDS}
