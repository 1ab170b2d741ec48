"""Logging a Mini Program user in: code exchange, user record, session token.

A plain login is one WeChat call and two DynamoDB writes, no read: an UpdateItem of the user that
answers the user as stored and whether this login created it, then a PutItem of the session under
the user's generation. In that order, a failure between the two leaves a user with a fresher
session_key and no session: the client got 503 and no token, nothing it can use.

A login with an Idempotency-Key first puts a pending marker for its code (before WeChat sees the
code), and after its session turns the marker into its answer, sealed under a key only the holder
of the code, the Idempotency-Key and this deployment's secret can derive (or into `failed`, so a
retry of a failed login is answered at once). Four requests, each a single-item write the login
role may make: no BatchWriteItem, which would also let it delete. A retry of that
login opens the answer; a retry that arrives while the login still runs waits for it, never past
the time that login has left; any other use of the code is `invalid_code` at once.

Codes WeChat refuses are counted per source address; past the budget, that source gets 429 until
its window ends, and this instance answers it without calling WeChat or DynamoDB.
"""

from __future__ import annotations

import hmac
import json
import math
import secrets
import time

from wxlogin.config import Settings
from wxlogin.errors import InvalidCode, RateLimited, ServiceUnavailable, Unauthorized, WxLoginError
from wxlogin.keys.appsecrets import AppSecrets
from wxlogin.keys.crypto import seal, unseal
from wxlogin.keys.serverkeys import ServerKeys
from wxlogin.keys.tokens import mint_token, parse_token, user_id_for
from wxlogin.records import hidden, record
from wxlogin.services.auth import Authenticator
from wxlogin.services.signup_risk import SignUpRisk
from wxlogin.services.userdata import SessionIdentity, open_profile_data
from wxlogin.storage.login_records import LoginRecords, LoginRetry
from wxlogin.storage.users import UserStore, user_pk
from wxlogin.web.route_requests import LoginRequest
from wxlogin.wechat.client import WeChatClient, WeChatSession
from wxlogin.wechat.errors import WeChatApiError, WeChatErrcode, contract_error

POLL_SECONDS = 0.1
REFUSED_CODES = frozenset({WeChatErrcode.INVALID_CODE, WeChatErrcode.CODE_USED})


@record
class LoginOutcome:
    answer: dict = hidden()
    appid: str
    # The answer of an earlier login of the same code and key, given again: that login was already counted.
    replayed: bool


class LoginService:
    def __init__(
        self,
        settings: Settings,
        store: UserStore,
        records: LoginRecords,
        app_secrets: AppSecrets,
        wechat: WeChatClient,
        keys: ServerKeys,
        clock=time.time,
        sleep=time.sleep,
        risk: SignUpRisk | None = None,
    ):
        self.settings = settings
        self.store = store
        self.records = records
        self.app_secrets = app_secrets
        self.wechat = wechat
        self.keys = keys
        self.clock = clock
        self.sleep = sleep
        self.risk = risk
        # Sources over their refused-code budget, until their window ends: answered here without a remote call.
        self._over_budget: dict[str, float] = {}

    def login(self, request: LoginRequest, seconds_left: float) -> LoginOutcome:
        """`seconds_left`: how long this invocation may still run; a retry never waits for it longer."""
        self._refuse_if_over_budget(request.source)
        appid = self.app_secrets.resolve_appid(request.appid)
        if request.idempotency_key is None:
            return LoginOutcome(self._login(appid, request), appid, replayed=False)
        return self._keyed_login(appid, request, seconds_left)

    def _keyed_login(self, appid: str, request: LoginRequest, seconds_left: float) -> LoginOutcome:
        now = self.clock()
        record_id = self.keys.keyed_hash("login retry", appid, request.code)
        key_check = self.keys.keyed_hash("login retry key", appid, request.code, request.idempotency_key)
        marker = LoginRetry(
            key_check=key_check,
            kid=self.keys.current_kid(),
            state="pending",
            deadline=now + seconds_left,
            expires_at=int(now) + self.settings.login_retry_window_seconds,
            sealed=None,
        )
        existing = self.records.claim_login_retry(record_id, marker, now)
        if existing is not None:
            return LoginOutcome(self._replay(appid, request, record_id, existing, now + seconds_left), appid, True)
        try:
            return LoginOutcome(self._login(appid, request, (record_id, marker)), appid, replayed=False)
        except BaseException:
            # A retry of a login that failed must not wait for it: it is answered at once (invalid_code).
            try:
                self.records.finish_login_retry(record_id, key_check, "failed")
            except WxLoginError:
                pass  # best effort: the marker's deadline ends any wait for it anyway
            raise

    def _login(self, appid: str, request: LoginRequest, retry: tuple[str, LoginRetry] | None = None) -> dict:
        session = self._code_to_session(appid, request)
        now = self.clock()
        user_id = user_id_for(appid, session.openid)
        fields = {
            "appid": appid,
            "openid": session.openid,
            "sessionKey": self.keys.seal_text("session_key", user_pk(user_id), session.session_key),
        }
        if session.unionid:
            fields["unionid"] = session.unionid
        claimed_unionid = None
        if request.encrypted is not None:
            identity = SessionIdentity(appid, session.openid, session.unionid, session.session_key)
            data = open_profile_data(identity, request.encrypted, self.settings.watermark_max_age_seconds, now)
            fields.update(data.fields)
            if session.unionid is None and data.unionid:
                claimed_unionid = data.unionid
        if self.risk is not None:
            fields.update(self.risk.fields_at_sign_up(appid, session.openid, user_id, request.client_ip))
        login_id, generation = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        # The key this login replaces still opens data obtained just before it, for a while (session_keys.py).
        grace = self.settings.session_key_grace_seconds
        user, created = self.store.record_login(
            user_id, fields, login_id, generation, now, claimed_unionid, int(now) + grace if grace else None
        )

        token, ref = mint_token(user_id)
        answer = {
            "token": token,
            "expiresIn": self.settings.token_ttl_seconds,
            "openid": session.openid,
            "unionid": user.unionid,
            "isNewUser": created,
        }
        if request.encrypted is not None:
            answer["profile"] = user.profile
        self.store.put_session(user_id, ref, user.generation, int(now) + self.settings.token_ttl_seconds, now)
        if retry is not None:
            record_id, marker = retry
            key = self.keys.retry_sealing_key(marker.kid, appid, request.code, request.idempotency_key)
            sealed = seal(key, json.dumps(answer).encode())
            self.records.finish_login_retry(record_id, marker.key_check, "done", sealed)
        return answer

    def _code_to_session(self, appid: str, request: LoginRequest) -> WeChatSession:
        def exchange(secret: str) -> WeChatSession:
            return self.wechat.code_to_session(appid, secret, request.code)

        try:
            return self.app_secrets.call_with_secret(appid, exchange)
        except WeChatApiError as exc:
            if exc.errcode in REFUSED_CODES:
                self._count_refused_code(request.source)
            raise contract_error(exc.errcode) from None

    def _replay(self, appid: str, request: LoginRequest, record_id: str, record: LoginRetry, give_up: float) -> dict:
        """The answer of the login this request retries: only for the same code and key, waiting only
        while that login may still be running."""
        key_check = self.keys.keyed_hash("login retry key", appid, request.code, request.idempotency_key)
        if not hmac.compare_digest(record.key_check, key_check):
            raise InvalidCode()
        while record is not None and record.state == "pending":
            wait = min(record.deadline, give_up) - self.clock()
            if wait <= 0:
                raise InvalidCode()
            self.sleep(min(POLL_SECONDS, wait))
            record = self.records.get_login_retry(record_id, self.clock())
        if record is None or record.sealed is None or not hmac.compare_digest(record.key_check, key_check):
            raise InvalidCode()
        key = self.keys.retry_sealing_key(record.kid, appid, request.code, request.idempotency_key)
        plaintext = unseal(key, record.sealed)
        if plaintext is None:
            raise InvalidCode()
        answer = json.loads(plaintext)
        try:
            # A session revoked since (logout, erasure) stays revoked: its retry gets no token back.
            Authenticator(self.store, self.clock).user(parse_token(answer["token"]))
        except Unauthorized:
            raise InvalidCode() from None
        return answer

    def _refuse_if_over_budget(self, source: str | None) -> None:
        until = self._over_budget.get(source) if source else None
        if until is None:
            return
        now = self.clock()
        if until > now:
            raise RateLimited(math.ceil(until - now))
        del self._over_budget[source]

    def _count_refused_code(self, source: str | None) -> None:
        """Count a code WeChat refused against its source; past the budget, 429 until the window ends."""
        budget, window = self.settings.refused_code_budget, self.settings.refused_code_window_seconds
        if not budget or not source:
            return
        now = self.clock()
        start = int(now) // window * window
        try:
            count = self.records.count_refused_code(
                self.keys.keyed_hash("refused codes", source), start, start + window
            )
        except ServiceUnavailable:
            return  # the limit protects WeChat's quota; a lost count must not turn invalid_code into 503
        if count > budget:
            self._over_budget = {ip: until for ip, until in self._over_budget.items() if until > now}
            self._over_budget[source] = start + window
            raise RateLimited(math.ceil(start + window - now))
