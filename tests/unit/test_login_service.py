"""LoginService alone: the code exchange, the user record, the replay of a lost login, the secret re-read."""

from __future__ import annotations

import pytest

from tests.support.values import APP_SECRET, APPID, OPENID, SESSION_KEY
from tests.unit.fakes import (
    DEADLINE,
    KEYS,
    NOW,
    WECHAT_PROFILE,
    Clock,
    SecretsProvider,
    Users,
    WeChat,
    live,
    payload,
    session,
)
from wxlogin.aws import STORE_RESERVE_SECONDS
from wxlogin.config import load_settings
from wxlogin.errors import (
    AccountBlocked,
    InvalidCode,
    InvalidEncryptedData,
    RateLimited,
    ServiceUnavailable,
    UserBlocked,
    WeChatError,
    WeChatUnavailable,
    WxLoginError,
)
from wxlogin.keys.appsecrets import AppSecrets
from wxlogin.keys.tokens import LOGIN_ID_BYTES, parse_token, session_id_for, user_id_for
from wxlogin.records import replace
from wxlogin.services.auth import Authenticator
from wxlogin.services.login import IN_FLIGHT_WAIT_SECONDS, LoginService
from wxlogin.storage.users import MAX_WAITERS, user_pk
from wxlogin.web.route_requests import LoginRequest
from wxlogin.wechat.errors import WeChatErrcode

KEY = "f3a9c0d27b5e4e18a6c1d09b8e7f2a41"  # 128 bits in hex, as the shipped client sends
OTHER_KEY = "0b8e7f2a41f3a9c0d27b5e4e18a6c1d9"


def service(wechat: WeChat, users: Users | None = None, secret=f'{{"{APPID}": "{APP_SECRET}"}}', clock=None, **env):
    clock = clock or Clock()
    apps = AppSecrets("apps", 300, provider=SecretsProvider(secret))
    settings = load_settings(env)
    users = users or Users()
    return LoginService(settings, users, apps, wechat, KEYS, clock=clock, sleep=clock.sleep)


def test_a_first_login_makes_the_user_and_a_session_the_token_opens_with_no_read_before_wechat():
    users = Users()
    answer = (
        service(WeChat(sessions=[session(unionid="oUnion")]), users).login(LoginRequest(code="c1"), DEADLINE).answer
    )
    assert answer["isNewUser"] and answer["openid"] == OPENID and answer["unionid"] == "oUnion"
    assert "profile" not in answer and answer["expiresIn"] == 7 * 24 * 3600
    ref = parse_token(answer["token"])
    stored = users.users[user_id_for(APPID, OPENID)]
    assert users.sessions == {ref: live(NOW + 7 * 24 * 3600, stored.generation)}
    assert SESSION_KEY.encode() not in stored.sealed_session_key
    sealed = stored.sealed_session_key
    assert KEYS.open_text("session_key", user_pk(stored.user_id), stored.generation, sealed) == SESSION_KEY
    # The user's read and write (record_login), then the session: nothing else, nothing before WeChat.
    assert users.calls == ["record_login", "put_session"]
    assert ref.session_id == session_id_of("c1")
    assert stored.listed_sessions == {ref.session_id: int(NOW) + 7 * 24 * 3600}


def test_a_second_login_keeps_the_known_unionid_and_profile():
    users = Users()
    data = {"openId": OPENID, **WECHAT_PROFILE, "nickName": "Ann", "watermark": {"appid": APPID, "timestamp": int(NOW)}}
    first = (
        service(WeChat(sessions=[session()]), users)
        .login(LoginRequest(code="c1", encrypted=payload(data)), DEADLINE)
        .answer
    )
    assert first["profile"] == {"nickName": "Ann", "gender": 0}
    again = service(WeChat(sessions=[session()]), users).login(LoginRequest(code="c2"), DEADLINE).answer
    assert not again["isNewUser"] and users.users[user_id_for(APPID, OPENID)].profile == first["profile"]


def test_login_data_from_another_session_is_refused_and_nothing_is_stored():
    users = Users()
    data = {"openId": OPENID, "watermark": {"appid": APPID, "timestamp": int(NOW)}}
    stale = payload(data, session_key="ZmZmZmZmZmZmZmZmZmZmZg==")
    with pytest.raises(InvalidEncryptedData):
        service(WeChat(sessions=[session()]), users).login(LoginRequest(code="c1", encrypted=stale), DEADLINE)
    assert users.users == {} and users.sessions == {}


@pytest.mark.parametrize(
    "errcode, error",
    [(40029, InvalidCode), (40163, InvalidCode), (40226, UserBlocked), (45011, RateLimited), (40013, WeChatError)],
)
def test_wechat_refusals_are_the_contracts_errors_and_store_nothing(errcode, error):
    users = Users()
    with pytest.raises(error):
        service(WeChat(sessions=[errcode]), users).login(LoginRequest(code="c1"), DEADLINE)
    assert users.users == {} and users.logins == 0


def session_id_of(code: str) -> str:
    """The session item a login of `code` writes, and a retry of it reads (the code's login id, under KEYS)."""
    return session_id_for(bytes.fromhex(KEYS.keyed_hash("login session", APPID, code))[:LOGIN_ID_BYTES])


def keyed(code: str = "c1", key: str | None = KEY) -> LoginRequest:
    return LoginRequest(code=code, idempotency_key=key)


def counted(login: LoginService) -> list:
    refused: list = []
    login.on_refused_code = lambda: refused.append(1)
    return refused


def test_a_keyed_login_costs_one_read_more_than_a_plain_one_and_nothing_else():
    users = Users()
    service(WeChat(sessions=[session()]), users).login(LoginRequest(code="plain"), DEADLINE)
    assert users.calls == ["record_login", "put_session"]
    users.calls.clear()
    service(WeChat(sessions=[session()]), users).login(keyed("keyed"), DEADLINE)
    assert users.calls == ["session_record", "record_login", "put_session"]


def test_a_login_lists_its_session_on_the_user_item_in_its_own_write():
    users = Users()
    first = service(WeChat(sessions=[session()]), users).login(LoginRequest(code="c1"), DEADLINE).answer
    second = service(WeChat(sessions=[session()]), users).login(keyed("c2"), DEADLINE).answer
    refs = [parse_token(answer["token"]) for answer in (first, second)]
    assert [ref.session_id for ref in refs] == [session_id_of("c1"), session_id_of("c2")]
    listed = users.users[user_id_for(APPID, OPENID)].listed_sessions
    assert listed == {ref.session_id: int(NOW) + 7 * 24 * 3600 for ref in refs}
    assert users.calls.count("record_login") == 2  # the listing rode in each login's user write


def test_a_code_makes_one_session_whatever_races():
    """Should WeChat answer a code twice, the second login writes no second session: invalid_code, and the
    first token still works."""
    users = Users()
    first = service(WeChat(sessions=[session()]), users).login(LoginRequest(code="c1"), DEADLINE).answer
    with pytest.raises(InvalidCode):
        service(WeChat(sessions=[session()]), users).login(LoginRequest(code="c1"), DEADLINE)
    assert list(users.sessions) == [parse_token(first["token"])]
    assert Authenticator(users, Clock()).user(parse_token(first["token"])).user_id == user_id_for(APPID, OPENID)


def test_a_retried_login_gets_the_same_answer_back_with_two_reads_and_no_wechat_call():
    users, clock = Users(), Clock()
    wechat = WeChat(sessions=[session()])
    first = service(wechat, users, clock=clock).login(keyed(), DEADLINE)
    users.calls.clear()
    login = service(wechat, users, clock=clock)
    refused = counted(login)
    retried = login.login(keyed(), DEADLINE)
    assert retried.replayed and not first.replayed and retried.answer == first.answer
    assert users.calls == ["session_record", "session_with_user"]  # the code's session, then it with its user
    assert wechat.count("code_to_session") == 1 and refused == []
    # The replay names the same account for its access token as the first answer did.
    assert retried.subject == first.subject == users.users[user_id_for(APPID, OPENID)].sub
    first = first.answer
    record = users.retries[session_id_of("c1")]
    assert record.sealed is not None and first["token"].encode() not in record.sealed
    assert KEY not in record.key_check and "c1" not in record.key_check


def test_a_retry_with_another_key_or_none_is_invalid_code():
    users = Users()
    first = service(WeChat(sessions=[session()]), users).login(keyed(), DEADLINE).answer
    users.calls.clear()
    nowhere = WeChat()
    with pytest.raises(InvalidCode):
        service(nowhere, users).login(keyed(key=OTHER_KEY), DEADLINE)
    assert nowhere.count("code_to_session") == 0 and users.calls == ["session_record"]
    # Without a key it is a plain login, which reads nothing first: WeChat refuses the used code, counted once.
    login = service(WeChat(sessions=[40163]), users)
    refused = counted(login)
    with pytest.raises(InvalidCode):
        login.login(keyed(key=None), DEADLINE)
    assert refused == [1] and users.calls == ["session_record"]
    # Neither spoiled the login's own retry.
    assert service(WeChat(), users).login(keyed(), DEADLINE).answer == first


def test_a_used_code_with_a_random_key_is_invalid_code_at_once():
    """No wait and no WeChat call: neither when a keyed login of the code is done, nor when the code was used
    without a key. The refused attempt writes nothing, so its own retry is refused at once too."""
    users, clock = Users(), Clock()
    keyed_wechat = WeChat(sessions=[session()])
    service(keyed_wechat, users, clock=clock).login(keyed("keyed"), DEADLINE)
    plain = WeChat(sessions=[session()])
    service(plain, users, clock=clock).login(LoginRequest(code="plain"), DEADLINE)
    sessions, retries = dict(users.sessions), dict(users.retries)
    users.calls.clear()
    for code in ("keyed", "plain", "keyed", "plain"):
        login = service(plain, users, clock=clock)
        refused = counted(login)
        with pytest.raises(InvalidCode):
            login.login(keyed(code, OTHER_KEY), DEADLINE)
        assert refused == []  # WeChat was not asked: nothing it refused
    assert clock.slept == [] and keyed_wechat.count("code_to_session") == 1 and plain.count("code_to_session") == 1
    assert users.calls == ["session_record"] * 4 and users.sessions == sessions and users.retries == retries


class Finishing(Clock):
    """A clock whose third sleep lets the login in flight finish: its session is then written."""

    def __init__(self, users: Users, held: tuple):
        super().__init__()
        self.users, self.held = users, held

    def sleep(self, seconds):
        super().sleep(seconds)
        if len(self.slept) == 3:
            (ref, stored), (session_id, retry) = self.held
            self.users.sessions[ref], self.users.retries[session_id] = stored, retry


def _in_flight(users: Users) -> tuple[tuple, dict]:
    """A keyed login that WeChat has answered and that has not written its session yet: (what it writes, its
    answer). The user item is already written (the login writes its session last)."""
    answer = service(WeChat(sessions=[session()]), users).login(keyed(), DEADLINE).answer
    ref = parse_token(answer["token"])
    held = ((ref, users.sessions.pop(ref)), (ref.session_id, users.retries.pop(ref.session_id)))
    return held, answer


def test_a_retry_of_a_login_in_flight_waits_for_its_session_and_gets_its_answer():
    users = Users()
    held, answer = _in_flight(users)
    clock = Finishing(users, held)
    wechat = WeChat(sessions=[40163])  # the login in flight exchanged the code
    login = service(wechat, users, clock=clock)
    refused = counted(login)
    retried = login.login(keyed(), DEADLINE)
    assert retried.replayed and retried.answer == answer and len(clock.slept) == 3
    assert refused == [] and wechat.count("code_to_session") == 1 and users.logins == 1


def test_a_retry_of_a_login_in_flight_that_fails_is_refused_as_soon_as_that_login_says_so():
    users = Users()
    (_, (session_id, retry)), _ = _in_flight(users)
    clock = Clock()

    def fails(seconds):  # on the second wait, the login in flight fails and marks its code (no answer)
        clock.slept.append(seconds)
        clock.now += seconds
        if len(clock.slept) == 2:
            users.put_failed_login(session_id, retry.key_check, retry.kid, retry.retry_until)

    clock.sleep = fails
    login = service(WeChat(sessions=[40163]), users, clock=clock)
    refused = counted(login)
    with pytest.raises(InvalidCode):
        login.login(keyed(), DEADLINE)
    assert len(clock.slept) == 2 and refused == []  # that login's failure was answered and logged already


def test_a_retry_never_waits_past_its_own_deadline_nor_the_in_flight_wait():
    for deadline, waited in ((DEADLINE, IN_FLIGHT_WAIT_SECONDS), (NOW + STORE_RESERVE_SECONDS + 1.0, 1.0)):
        users = Users()
        _in_flight(users)  # never finishes
        clock = Clock()
        login = service(WeChat(sessions=[40163]), users, clock=clock)
        refused = counted(login)
        with pytest.raises(InvalidCode):
            login.login(keyed(), deadline)
        # Up to the wait, leaving the time to answer; the code was used by no login that is answered: refused, once.
        assert sum(clock.slept) == pytest.approx(waited) and refused == [1]
        assert users.calls.count("put_failed_login") == 0  # a refused code leaves nothing behind but the waiting


def test_a_retry_out_of_time_waits_not_at_all():
    users = Users()
    _in_flight(users)
    clock = Clock()
    with pytest.raises(InvalidCode):
        service(WeChat(sessions=[40163]), users, clock=clock).login(keyed(), NOW + STORE_RESERVE_SECONDS)
    assert clock.slept == []


@pytest.mark.parametrize("ended_by", ["logout", "erasure", "sign-out", "expiry", "retry window"])
def test_a_retry_of_a_login_whose_session_ended_gets_no_token(ended_by):
    users, clock = Users(), Clock()
    env = {"TOKEN_TTL_SECONDS": "60"}  # a session shorter than the retry window (300 s)
    answer = service(WeChat(sessions=[session()]), users, clock=clock, **env).login(keyed(), DEADLINE).answer
    ref, user_id = parse_token(answer["token"]), user_id_for(APPID, OPENID)
    if ended_by == "logout":
        users.revoke_session(ref, users.users[user_id].generation, NOW)
    elif ended_by == "erasure":
        users.delete_user(users.users[user_id], ref, NOW)
    elif ended_by == "sign-out":  # an operator's: a new generation, the session item untouched
        users.users[user_id] = replace(users.users[user_id], generation="gen-after-sign-out", listed_sessions=None)
    elif ended_by == "expiry":
        clock.now = NOW + 60
    else:
        env = {"TOKEN_TTL_SECONDS": "3600"}
        clock.now = NOW + 300  # LOGIN_RETRY_WINDOW_SECONDS' default: the session lives, its retry is over
        users.sessions[ref] = replace(users.sessions[ref], expires_at=int(NOW) + 3600)
    nowhere = WeChat()
    with pytest.raises(InvalidCode):
        service(nowhere, users, clock=clock, **env).login(keyed(), clock.now + 10)
    assert nowhere.count("code_to_session") == 0 and clock.slept == []


def test_a_retry_of_a_blocked_users_login_is_told_so():
    users = Users()
    service(WeChat(sessions=[session()]), users).login(keyed(), DEADLINE)
    user_id = user_id_for(APPID, OPENID)
    users.users[user_id] = replace(users.users[user_id], blocked={"reason": "abuse", "at": "t", "by": "ops"})
    with pytest.raises(AccountBlocked):
        service(WeChat(), users).login(keyed(), DEADLINE)


@pytest.mark.parametrize(
    "failure", [ServiceUnavailable(), WeChatUnavailable(), 40226, 40013], ids=["ddb", "wechat-down", "risky", "error"]
)
def test_a_retry_of_a_failed_keyed_login_is_refused_at_once(failure):
    """A login that failed may have used its code up: its retry is invalid_code at once, no wait, no WeChat."""
    users = Users()
    wechat = WeChat(sessions=[session() if isinstance(failure, ServiceUnavailable) else failure])
    if isinstance(failure, WeChatUnavailable):
        wechat.script["code_to_session"] = [failure]
    if isinstance(failure, ServiceUnavailable):

        def down(*_args, **_kwargs):
            raise failure

        users.put_session = down  # WeChat answered, the session could not be written
    with pytest.raises(WxLoginError):
        service(wechat, users).login(keyed(), DEADLINE)
    assert users.calls[-1] == "put_failed_login"
    failed = users.retries[session_id_of("c1")]
    assert failed.sealed is None
    for key in (KEY, OTHER_KEY):
        clock, nowhere = Clock(), WeChat()
        login = service(nowhere, users, clock=clock)
        with pytest.raises(InvalidCode):
            login.login(keyed(key=key), DEADLINE)
        assert clock.slept == [] and nowhere.count("code_to_session") == 0
    # Nothing of it lets anybody in.
    assert users.sessions == {}


def test_a_plain_login_that_failed_writes_nothing():
    """Bad input changes nothing: a plain login refused after WeChat took its code leaves no record behind."""
    users = Users()

    def down(*_args, **_kwargs):
        raise ServiceUnavailable()

    users.put_session = down
    with pytest.raises(ServiceUnavailable):
        service(WeChat(sessions=[session()]), users).login(keyed(key=None), DEADLINE)
    assert "put_failed_login" not in users.calls and users.retries == {}


@pytest.mark.parametrize("errcode, error", [(40029, InvalidCode), (45011, RateLimited)])
def test_a_keyed_login_wechat_refuses_leaves_nothing_and_its_retry_is_refused_as_fast(errcode, error):
    users = Users()
    wechat = WeChat(sessions=[errcode, errcode])
    login = service(wechat, users)
    refused = counted(login)
    for _ in range(2):
        with pytest.raises(error):
            login.login(keyed(), DEADLINE)
    assert users.calls == ["session_record"] * 2 and users.retries == {} and users.sessions == {}
    assert refused == ([1, 1] if errcode == 40029 else [])  # each refusal counted once


def test_a_failed_record_never_stands_in_the_way_of_a_session_already_written():
    users = Users()
    answer = service(WeChat(sessions=[session()]), users).login(keyed(), DEADLINE).answer
    users.put_failed_login(session_id_of("c1"), "another-check", "k1", int(NOW) + 300)
    assert service(WeChat(), users).login(keyed(), DEADLINE).answer == answer


def test_junk_codes_never_cost_a_valid_code_its_login_and_each_refusal_is_counted_without_a_write():
    """No limit by address: every code goes to WeChat, whatever was sent before it from anywhere."""
    users, refused = Users(), []
    wechat = WeChat(sessions=[40029, 40163] * 50 + [session()])
    login = service(wechat, users)
    login.on_refused_code = lambda: refused.append(1)
    for _ in range(100):
        with pytest.raises(InvalidCode):
            login.login(LoginRequest(code="junk"), DEADLINE)
    assert len(refused) == 100 and users.calls == []  # WeChat's refusal costs no DynamoDB request
    assert login.login(LoginRequest(code="good"), DEADLINE).answer["isNewUser"]
    assert wechat.count("code_to_session") == 101 and len(refused) == 100


@pytest.mark.parametrize("errcode", [45011, 40226, 40013, -1])
def test_only_codes_wechat_refuses_are_counted_as_refused(errcode):
    refused = []
    login = service(WeChat(sessions=[errcode] * 5), Users())
    login.on_refused_code = lambda: refused.append(1)
    with pytest.raises(WxLoginError):
        login.login(LoginRequest(code="c1"), DEADLINE)
    assert refused == []


def test_a_rotated_secret_is_read_afresh_once():
    apps = SecretsProvider(f'{{"{APPID}": "old"}}')
    wechat = WeChat(sessions=[WeChatErrcode.INVALID_APPSECRET, session()])
    app_secrets = AppSecrets("apps", 300, provider=apps)
    app_secrets.resolve_appid(None)  # "old" is cached, then rotated in Secrets Manager
    apps.value = f'{{"{APPID}": "new"}}'
    users = Users()
    login = LoginService(load_settings({}), users, app_secrets, wechat, KEYS)
    assert login.login(LoginRequest(code="c1"), DEADLINE).answer["isNewUser"]
    assert [call[2] for call in wechat.calls] == ["old", "new"] and apps.fetches == 2


def test_an_appsecret_wechat_refuses_twice_is_wechat_error():
    wechat = WeChat(sessions=[40125])
    with pytest.raises(WeChatError):
        service(wechat).login(LoginRequest(code="c1"), DEADLINE)
    assert wechat.count("code_to_session") == 1  # the re-read found the same secret: no second call


def test_a_used_code_whose_login_wrote_nothing_holds_one_wait_and_every_later_request_is_refused_at_once():
    """A client resending a code whose login failed or was never ours (WeChat: used, no session here) may not
    hold an instance for the in-flight wait on every request: the first waits, every later one with another key
    reads the waiting record and is refused at once, without asking WeChat; each counts as a refused code."""
    users = Users()
    _in_flight(users)  # its session never comes
    clock = Clock()
    wechat = WeChat(sessions=[40163])
    login = service(wechat, users, clock=clock)
    refused = counted(login)
    with pytest.raises(InvalidCode):
        login.login(keyed(), DEADLINE)
    assert sum(clock.slept) == pytest.approx(IN_FLIGHT_WAIT_SECONDS)
    for key in ("k-1", "k-2", "k-3"):
        clock.slept.clear()
        with pytest.raises(InvalidCode):
            login.login(keyed(key=key), DEADLINE)
        assert clock.slept == []
    assert refused == [1, 1, 1, 1]  # each a request with a used code that no login answered


def test_a_waiting_retry_gets_the_session_that_replaces_its_record():
    """The waiting record never blocks the login it waits for: its session replaces the record."""
    users = Users()
    held, answer = _in_flight(users)
    (ref, live_session), (session_id, retry) = held
    assert users.put_waiting(session_id, "key-check", NOW + 3, int(NOW) + 300)
    assert users.put_session(ref, live_session.generation, live_session.expires_at, NOW, retry)
    assert users.session_record(session_id).token_hash == ref.token_hash


def test_a_resend_of_a_login_in_flight_with_its_key_joins_the_wait_and_gets_its_answer():
    """A client that resends its login while the first copy still runs (its own retries, all with its key): the
    first resend put the waiting record, a later one joins it and gets the one answer, without asking WeChat."""
    users = Users()
    held, answer = _in_flight(users)
    (_, _), (session_id, retry) = held
    assert users.put_waiting(session_id, retry.key_check, NOW + IN_FLIGHT_WAIT_SECONDS, int(NOW) + 300)
    wechat = WeChat()
    joined = service(wechat, users, clock=Finishing(users, held)).login(keyed(), DEADLINE)
    assert joined.replayed and joined.answer == answer
    assert users.calls.count("join_wait") == 1 and wechat.count("code_to_session") == 0


def test_at_most_max_waiters_wait_for_one_code_and_another_key_never_does():
    users = Users()
    (_, (session_id, retry)), _ = _in_flight(users)  # its session never comes
    assert users.put_waiting(session_id, retry.key_check, NOW + IN_FLIGHT_WAIT_SECONDS, int(NOW) + 300)
    slept = []
    for _ in range(MAX_WAITERS + 2):
        clock = Clock()
        with pytest.raises(InvalidCode):
            service(WeChat(), users, clock=clock).login(keyed(), DEADLINE)
        slept.append(sum(clock.slept))
    # The first waiter is the record's own; MAX_WAITERS - 1 more join it, up to its end; the rest wait not at all.
    assert slept == [pytest.approx(IN_FLIGHT_WAIT_SECONDS)] * (MAX_WAITERS - 1) + [0, 0, 0]
    clock = Clock()
    with pytest.raises(InvalidCode):
        service(WeChat(), users, clock=clock).login(keyed(key="another-key"), DEADLINE)
    assert clock.slept == []
