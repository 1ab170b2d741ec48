"""Logging a Mini Program user in: code exchange, user record, session token.

A plain login is one WeChat call, one DynamoDB read and two writes: the user's generation (the session_key
is sealed for it), an UpdateItem of the user conditional on that generation that answers the user as stored
and whether this login created it (and lists the new session), then a PutItem of the session under the user's
generation. In that order, a failure between the two writes leaves a user with a fresher session_key and no
session: the client got 503 and no token, nothing it can use. The session's key is the login id, a keyed hash
of the code (tokens.py), and it is written only where none is: one session per code, whatever races.

A login with an Idempotency-Key costs one read more and nothing else: it first reads the session of its
code. None there: it logs in as a plain login does, its session item also holding the answer, sealed under
a key only the holder of the code, the Idempotency-Key and this deployment's secret can derive, and a check
of the key. One there: it is a retry, answered from that item (after a second read, of the session with its
user: logout, erasure and a new generation end what a retry may give back); a session of the code made with
another key, or without one, is invalid_code at once, with no call to WeChat. When WeChat says the code was
used (40163) and no session of it is there yet, a login of the code is still writing it (or ended without a
word): the request puts the code's waiting record where the session will be and waits for the session, a few
seconds at most and never past its own time; resends with the same key join that wait (MAX_WAITERS in all), and
any other request for the code reads the record and is refused at once, so a used code whose login wrote
nothing holds a few waits once, not one per request. A keyed login that fails marks its code failed where its
session would be, so its retry is answered at once (unless WeChat refused the code: it refuses the retry as
fast). A plain login that fails writes nothing: bad input changes nothing.

WeChat gets the invocation's time up to its deadline less what storing the answer needs
(STORE_RESERVE_SECONDS): a code WeChat accepted late is still stored, and a WeChat that does not
answer in time is 503 `wechat_unavailable`, never a Lambda timeout.

Nothing here refuses a login before WeChat has seen its code: a limit by client address would
refuse the valid codes of everyone behind the same address (carrier-grade NAT) because of one
client's junk. A code WeChat refuses as invalid costs one WeChat call and no DynamoDB write (a keyed login reads
its code's session first); a used one costs a keyed request the waiting record and its reads. Each is counted
through `on_refused_code` (the RefusedCodes metric and its alarm), so a flood is seen; its rate is bounded by the login
route's throttle (docs/capacity.md).
"""

from __future__ import annotations

import hmac
import json
import secrets
import time

from wxlogin.aws import STORE_RESERVE_SECONDS
from wxlogin.config import Settings
from wxlogin.errors import InvalidCode, RateLimited, Unauthorized, WxLoginError
from wxlogin.keys.appsecrets import AppSecrets
from wxlogin.keys.crypto import seal, unseal
from wxlogin.keys.serverkeys import ServerKeys
from wxlogin.keys.tokens import LOGIN_ID_BYTES, mint_token, parse_token, session_id_for, user_id_for
from wxlogin.records import hidden, record
from wxlogin.services.auth import Authenticator
from wxlogin.services.signup_risk import SignUpRisk
from wxlogin.services.userdata import SessionIdentity, open_profile_data
from wxlogin.storage.users import LoginRetry, NewSession, SessionRecord, UserStore, user_pk
from wxlogin.web.route_requests import LoginRequest
from wxlogin.wechat.client import WeChatClient, WeChatSession
from wxlogin.wechat.errors import WeChatApiError, WeChatErrcode, contract_error

POLL_SECONDS = 0.1
# How long a retry waits for the session of a login WeChat has already answered: that login has its answer's
# trip back and its writes left, a few milliseconds, or seconds when DynamoDB retries (aws.py fails fast).
IN_FLIGHT_WAIT_SECONDS = 3.0


class CodeAlreadyUsed(InvalidCode):
    """WeChat's 40163: the code was exchanged already, maybe by a login of it still writing its session."""


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
        self.app_secrets = app_secrets
        self.wechat = wechat
        self.keys = keys
        self.clock = clock
        self.sleep = sleep
        # Called once for each code WeChat refused (40029, 40163 unless a retry's login used it): the handler counts
        # it as a metric.
        self.on_refused_code = on_refused_code
        self.risk = risk

    def login(self, request: LoginRequest, deadline: float) -> LoginOutcome:
        """`deadline`: when (epoch seconds) this invocation must answer. WeChat gets the time up to it but
        what storing its answer needs; a retry never waits past it."""
        appid = self.app_secrets.resolve_appid(request.appid)
        login_id = bytes.fromhex(self.keys.keyed_hash("login session", appid, request.code))[:LOGIN_ID_BYTES]
        if request.idempotency_key is None:
            try:
                return self._login(appid, request, login_id, deadline)
            except CodeAlreadyUsed:
                self.on_refused_code()
                raise
        return self._keyed_login(appid, request, login_id, deadline)

    def _keyed_login(self, appid: str, request: LoginRequest, login_id: bytes, deadline: float) -> LoginOutcome:
        session_id = session_id_for(login_id)
        key_check = self.keys.keyed_hash("login retry key", appid, request.code, request.idempotency_key)
        there = self.store.session_record(session_id)
        if there is not None:
            return self._answer_from(appid, request, session_id, there, key_check, deadline)
        kid = self.keys.current_kid()
        try:
            return self._login(appid, request, login_id, deadline, (key_check, kid))
        except CodeAlreadyUsed:
            return self._retry_in_flight(appid, request, session_id, key_check, deadline)
        except (InvalidCode, RateLimited):
            raise  # WeChat refused the code, or is limiting the app: a retry is refused as fast
        except BaseException:
            # The code may be used up by now (WeChat may have taken it without our seeing its answer): a retry
            # must not wait for this login, it is invalid_code at once.
            try:
                expires_at = int(self.clock()) + self.settings.login_retry_window_seconds
                self.store.put_failed_login(session_id, key_check, kid, expires_at)
            except WxLoginError:
                pass  # best effort: a retry's wait is bounded anyway
            raise

    def _login(
        self,
        appid: str,
        request: LoginRequest,
        login_id: bytes,
        deadline: float,
        keyed: tuple[str, str] | None = None,
    ) -> LoginOutcome:
        # A code WeChat accepted is spent: its answer must still be stored (user, session).
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
        creator, generation = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        token, ref = mint_token(user_id, login_id)
        expires_at = int(now) + self.settings.token_ttl_seconds
        # The key this login replaces still opens data obtained just before it, for a while (session_keys.py).
        grace = self.settings.session_key_grace_seconds
        user, created = self.store.record_login(
            user_id,
            fields,
            creator,
            generation,
            now,
            self._session_key_sealer(user_id, session),
            claimed_unionid,
            previous_key_until=int(now) + grace if grace else None,
            session=NewSession(ref.session_id, expires_at),
        )
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
        retry = None
        if keyed is not None:
            key_check, kid = keyed
            key = self.keys.retry_sealing_key(kid, appid, request.code, request.idempotency_key)
            sealed = seal(key, json.dumps(answer).encode())
            retry = LoginRetry(key_check, kid, sealed, int(now) + self.settings.login_retry_window_seconds)
        if not self.store.put_session(ref, user.generation, expires_at, now, retry):
            raise InvalidCode()  # another login of this code holds its session
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
            if exc.errcode == WeChatErrcode.CODE_USED:
                raise CodeAlreadyUsed() from None  # counted by the caller: a retry in flight is not refused
            if exc.errcode == WeChatErrcode.INVALID_CODE:
                self.on_refused_code()
            raise contract_error(exc.errcode) from None

    def _retry_in_flight(
        self, appid: str, request: LoginRequest, session_id: str, key_check: str, deadline: float
    ) -> LoginOutcome:
        """WeChat says the code is used and no session of it was there: a login of it may still be writing one.
        This request puts the code's waiting record and waits for that session, a few seconds counted from
        WeChat's answer, which the login in flight also had. Resends with the same key join the wait (at most
        MAX_WAITERS in all), anything else is refused at once, and after the wait the record refuses every use
        of the code: a used code whose login wrote nothing holds a few waits once, not one per request."""
        now = self.clock()
        # The wait leaves this request the time to read what it waited for.
        give_up = min(now + IN_FLIGHT_WAIT_SECONDS, deadline - STORE_RESERVE_SECONDS)
        expires_at = int(now) + self.settings.login_retry_window_seconds
        if not self.store.put_waiting(session_id, key_check, give_up, expires_at):
            there = self.store.session_record(session_id)  # another request's record, or what replaced it
            if there is None:
                raise InvalidCode()
            return self._answer_from(appid, request, session_id, there, key_check, deadline)
        there = self._wait_for_session(session_id, give_up)
        if there is None:
            self.on_refused_code()  # a used code, not a retry of its login: counted once, as refused
            raise InvalidCode()
        return self._replay(appid, request, there, key_check)

    def _answer_from(
        self, appid: str, request: LoginRequest, session_id: str, there: SessionRecord, key_check: str, deadline: float
    ) -> LoginOutcome:
        """What is at the code's session key answers this request: a waiting record, by waiting with it."""
        if there.waiting:
            return self._join_wait(appid, request, session_id, key_check, deadline)
        return self._replay(appid, request, there, key_check)

    def _join_wait(
        self, appid: str, request: LoginRequest, session_id: str, key_check: str, deadline: float
    ) -> LoginOutcome:
        """Another resend of a login in flight: it waits with the first, until the same time, or is refused."""
        until = self.store.join_wait(session_id, key_check, self.clock())
        if until is None:
            there = self.store.session_record(session_id)
        else:
            there = self._wait_for_session(session_id, min(until, deadline - STORE_RESERVE_SECONDS))
        if there is None or there.waiting:
            self.on_refused_code()  # a used code no login of it answered
            raise InvalidCode()
        return self._replay(appid, request, there, key_check)

    def _wait_for_session(self, session_id: str, give_up: float) -> SessionRecord | None:
        """The session (or the failure) of a login of this code that WeChat has answered and that is still
        writing it; None when none came by `give_up`."""
        while True:
            wait = give_up - self.clock()
            if wait <= 0:
                return None
            self.sleep(min(POLL_SECONDS, wait))
            there = self.store.session_record(session_id)
            if there is not None and not there.waiting:
                return there

    def _replay(self, appid: str, request: LoginRequest, there: SessionRecord, key_check: str) -> LoginOutcome:
        """The answer of the login this request retries: only for the same code and key, within the retry
        window, and only while its session lives."""
        retry, now = there.retry, self.clock()
        if retry is None or not hmac.compare_digest(retry.key_check, key_check):
            raise InvalidCode()  # the code's session was made without a key or with another one
        if retry.sealed is None or retry.retry_until <= now or there.expires_at <= now:
            raise InvalidCode()  # failed, too late to retry, or ended by logout or erasure
        key = self.keys.retry_sealing_key(retry.kid, appid, request.code, request.idempotency_key)
        plaintext = unseal(key, retry.sealed)
        if plaintext is None:
            raise InvalidCode()
        answer = json.loads(plaintext)
        try:
            # A session ended since (erasure of its user, a new generation, a block) stays ended: no token back.
            user = Authenticator(self.store, self.clock).user(parse_token(answer["token"]))
        except Unauthorized:
            raise InvalidCode() from None
        return LoginOutcome(answer, appid, replayed=True, subject=user.sub)
