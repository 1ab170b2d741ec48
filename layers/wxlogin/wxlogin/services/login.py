"""Logging a Mini Program user in: code exchange, user record, session token.

A plain login is one WeChat call, one DynamoDB read and two writes: the user's generation (the session_key
is sealed for it), an UpdateItem of the user conditional on that generation that answers the user as stored
and whether this login created it, then a PutItem of the session under the user's generation. In that order,
a failure between the two writes leaves a user with a fresher session_key and no session: the client got 503
and no token, nothing it can use.

A login with an Idempotency-Key first puts a pending marker for its code (before WeChat sees the
code), and after its session turns the marker into its answer, sealed under a key only the holder
of the code, the Idempotency-Key and this deployment's secret can derive (or into `failed`, so a
retry of a failed login is answered at once). Four requests, each a single-item write the login
role may make: no BatchWriteItem, which would also let it delete. A retry of that
login opens the answer; a retry that arrives while the login still runs waits for it, never past
the time that login has left; any other use of the code is `invalid_code` at once.

WeChat gets the invocation's time up to its deadline less what storing the answer needs
(STORE_RESERVE_SECONDS): a code WeChat accepted late is still stored, and a WeChat that does not
answer in time is 503 `wechat_unavailable`, never a Lambda timeout.

Nothing here refuses a login before WeChat has seen its code: a limit by client address would
refuse the valid codes of everyone behind the same address (carrier-grade NAT) because of one
client's junk. A code WeChat refuses costs one WeChat call and no DynamoDB request (a keyed
login's marker aside) and is counted through `on_refused_code` (the RefusedCodes metric and its
alarm), so a flood is seen; its rate is bounded by the login route's throttle (docs/capacity.md).
"""

from __future__ import annotations

import hmac
import json
import secrets
import time

from wxlogin.aws import STORE_RESERVE_SECONDS
from wxlogin.config import Settings
from wxlogin.errors import InvalidCode, Unauthorized, WxLoginError
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
    # The account's id, for the access token's `sub`.
    subject: str


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
        on_refused_code=lambda: None,
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
        # Called once for each code WeChat refused (40029, 40163): the handler counts it as a metric.
        self.on_refused_code = on_refused_code
        self.risk = risk

    def login(self, request: LoginRequest, deadline: float) -> LoginOutcome:
        """`deadline`: when (epoch seconds) this invocation must answer. WeChat gets the time up to it but
        what storing its answer needs; a retry never waits past it."""
        appid = self.app_secrets.resolve_appid(request.appid)
        if request.idempotency_key is None:
            return self._login(appid, request, deadline)
        return self._keyed_login(appid, request, deadline)

    def _keyed_login(self, appid: str, request: LoginRequest, deadline: float) -> LoginOutcome:
        now = self.clock()
        record_id = self.keys.keyed_hash("login retry", appid, request.code)
        key_check = self.keys.keyed_hash("login retry key", appid, request.code, request.idempotency_key)
        marker = LoginRetry(
            key_check=key_check,
            kid=self.keys.current_kid(),
            state="pending",
            deadline=deadline,
            expires_at=int(now) + self.settings.login_retry_window_seconds,
            sealed=None,
        )
        existing = self.records.claim_login_retry(record_id, marker, now)
        if existing is not None:
            return self._replay(appid, request, record_id, existing, deadline)
        try:
            return self._login(appid, request, deadline, (record_id, marker))
        except BaseException:
            # A retry of a login that failed must not wait for it: it is answered at once (invalid_code).
            try:
                self.records.finish_login_retry(record_id, key_check, "failed")
            except WxLoginError:
                pass  # best effort: the marker's deadline ends any wait for it anyway
            raise

    def _login(
        self, appid: str, request: LoginRequest, deadline: float, retry: tuple[str, LoginRetry] | None = None
    ) -> LoginOutcome:
        # A code WeChat accepted is spent: its answer must still be stored (user, session, retry record).
        session = self._code_to_session(appid, request, deadline - STORE_RESERVE_SECONDS)
        now = self.clock()
        user_id = user_id_for(appid, session.openid)
        fields = {"appid": appid, "openid": session.openid}
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
            wechat_deadline = deadline - STORE_RESERVE_SECONDS
            fields.update(
                self.risk.fields_at_sign_up(appid, session.openid, user_id, request.client_ip, wechat_deadline)
            )
        login_id, generation = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        # The key this login replaces still opens data obtained just before it, for a while (session_keys.py).
        grace = self.settings.session_key_grace_seconds
        user, created = self.store.record_login(
            user_id,
            fields,
            login_id,
            generation,
            now,
            self._session_key_sealer(user_id, session),
            claimed_unionid,
            previous_key_until=int(now) + grace if grace else None,
        )

        token, ref = mint_token(user_id)
        answer = {
            "token": token,
            "expiresIn": self.settings.token_ttl_seconds,
            "openid": session.openid,
            "unionid": user.unionid,
            "claimedUnionid": user.claimed_unionid,
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
        return LoginOutcome(answer, appid, replayed=False, subject=user.sub)

    def _session_key_sealer(self, user_id: str, session: WeChatSession):
        """Seals the session_key for the user item in the generation the store finds it in."""

        def seal_for(generation: str) -> bytes:
            return self.keys.seal_text("session_key", user_pk(user_id), generation, session.session_key)

        return seal_for

    def _code_to_session(self, appid: str, request: LoginRequest, deadline: float) -> WeChatSession:
        def exchange(secret: str) -> WeChatSession:
            return self.wechat.code_to_session(appid, secret, request.code, deadline)

        try:
            return self.app_secrets.call_with_secret(appid, exchange)
        except WeChatApiError as exc:
            if exc.errcode in REFUSED_CODES:
                self.on_refused_code()
            raise contract_error(exc.errcode) from None

    def _replay(
        self, appid: str, request: LoginRequest, record_id: str, record: LoginRetry, give_up: float
    ) -> LoginOutcome:
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
            user = Authenticator(self.store, self.clock).user(parse_token(answer["token"]))
        except Unauthorized:
            raise InvalidCode() from None
        return LoginOutcome(answer, appid, replayed=True, subject=user.sub)
