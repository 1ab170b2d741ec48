"""Logging a Mini Program user in: code exchange, user record, session token.

A login is one WeChat call, one DynamoDB read (is this a new user, what do we
already know) and one DynamoDB transaction that writes the user, the session
and, for a retryable login, the sealed answer together, so a failure never
leaves half a login behind.
"""

from __future__ import annotations

import hashlib
import json
import time

from .appsecrets import AppSecrets
from .config import Settings
from .crypto import seal, unseal
from .route_requests import LoginRequest
from .tokens import mint_token, user_id_for
from .userdata import SessionIdentity, open_user_data, profile_fields
from .users import UserStore
from .wechat import WeChatClient, WeChatSession
from .wechat_errors import WeChatApiError, WeChatErrcode, contract_error

# How long a retry waits for the login it repeats to finish writing (a login takes well under a second).
REPLAY_WAIT_SECONDS = 2.0


def _retry_record_id(appid: str, code: str) -> str:
    return hashlib.sha256(f"{appid}\n{code}".encode()).hexdigest()


def _retry_key(appid: str, code: str, idempotency_key: str) -> bytes:
    # Only a client holding both the code and its Idempotency-Key can open the record.
    return f"wxlogin-login-retry\n{appid}\n{code}\n{idempotency_key}".encode()


class LoginService:
    def __init__(
        self,
        settings: Settings,
        store: UserStore,
        app_secrets: AppSecrets,
        wechat: WeChatClient,
        clock=time.time,
        sleep=time.sleep,
    ):
        self.settings = settings
        self.store = store
        self.app_secrets = app_secrets
        self.wechat = wechat
        self.clock = clock
        self.sleep = sleep

    def login(self, request: LoginRequest) -> dict:
        appid = self.app_secrets.resolve_appid(request.appid)
        try:
            session = self._code_to_session(appid, request.code)
        except WeChatApiError as exc:
            if exc.errcode == WeChatErrcode.CODE_USED and request.idempotency_key:
                replayed = self._replay(appid, request)
                if replayed is not None:
                    return replayed
            raise contract_error(exc.errcode) from None
        return self._complete(appid, session, request)

    def _code_to_session(self, appid: str, code: str) -> WeChatSession:
        return self.app_secrets.call_with_secret(appid, lambda secret: self.wechat.code_to_session(appid, secret, code))

    def _complete(self, appid: str, session: WeChatSession, request: LoginRequest) -> dict:
        now = self.clock()
        user_id = user_id_for(appid, session.openid)
        existing = self.store.get_user(user_id)
        known_unionid = session.unionid or (existing.unionid if existing else None)
        fields = {"appid": appid, "openid": session.openid, "sessionKey": session.session_key}
        if session.unionid:
            fields["unionid"] = session.unionid
        profile = existing.profile if existing else None
        if request.encrypted is not None:
            identity = SessionIdentity(appid, session.openid, known_unionid, session.session_key)
            data = open_user_data(identity, request.encrypted, self.settings.watermark_max_age_seconds, now)
            decrypted = profile_fields(data)
            fields.update(decrypted)
            profile = {**(profile or {}), **decrypted} or None
            if known_unionid is None and data.get("unionId"):
                known_unionid = fields["unionid"] = data["unionId"]

        token, ref = mint_token(user_id)
        answer = {
            "token": token,
            "expiresIn": self.settings.token_ttl_seconds,
            "openid": session.openid,
            "unionid": known_unionid,
            "isNewUser": existing is None,
        }
        if request.encrypted is not None:
            answer["profile"] = profile
        retry_record = None
        if request.idempotency_key:
            sealed = seal(_retry_key(appid, request.code, request.idempotency_key), json.dumps(answer).encode())
            expires = int(now) + self.settings.login_retry_window_seconds
            retry_record = (_retry_record_id(appid, request.code), sealed, expires)
        self.store.save_login(
            user_id, fields, ref, int(now) + self.settings.token_ttl_seconds, now, retry_record=retry_record
        )
        return answer

    def _replay(self, appid: str, request: LoginRequest) -> dict | None:
        """The answer a lost login already produced, for the client that holds the same code and key.

        The first login may still be in flight (WeChat answered it, its write is under way) when its
        retry arrives, so a missing record is awaited briefly; a record that does not open with this
        key is refused at once."""
        record_id = _retry_record_id(appid, request.code)
        deadline = self.clock() + REPLAY_WAIT_SECONDS
        while (sealed := self.store.get_login_retry(record_id, self.clock())) is None:
            if self.clock() >= deadline:
                return None
            self.sleep(0.1)
        plaintext = unseal(_retry_key(appid, request.code, request.idempotency_key), sealed)
        return json.loads(plaintext) if plaintext is not None else None
