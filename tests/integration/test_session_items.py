"""Sessions as the table keeps them, through the real handlers against moto: the user item's list of its newest
sessions (what an operator and an erasure find them by), racing logins of one user, the operator's sign-out,
block and erasure, and what the events function makes of logins and logouts.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import botocore.client
import pytest
import requests

from local.events import lambda_record, matches, stream_consumer
from local.http_events import LambdaContext, http_api_event
from tests.support.inprocess import TEMPLATE, assert_session_ended, rewire
from tests.support.values import APP_SECRET, APPID, OPENID, SESSION_KEY
from wxlogin.errors import InvalidCode
from wxlogin.keys.tokens import parse_token
from wxlogin.services.login import IN_FLIGHT_WAIT_SECONDS, LoginService
from wxlogin.storage.users import SESSIONS_LISTED, UserStore
from wxlogin.web.route_requests import LoginRequest
from wxlogin.wechat.client import WeChatClient

LOGIN, ME = "/v1/auth/login", "/v1/me"
OPERATOR = {"iam": {"userArn": "arn:aws:iam::123456789012:user/operator"}}


def _listed(aws, token: str) -> dict[str, int]:
    """The user item's list of sessions: session id -> expiresAt."""
    return {sid: int(value["N"]) for sid, value in aws.user_of(token).get("sessions", {}).get("M", {}).items()}


def _session_id(me) -> str:
    return parse_token(me.token).session_id


class SteppedClock:
    """The login service's clock, one second on per login: each session expires after the one before it."""

    def __init__(self, start: float):
        self.now = start

    def __call__(self) -> float:
        return self.now


# --- The list of a user's newest sessions ------------------------------------------------------------------------


def test_the_user_item_lists_its_newest_sessions_and_drops_expired_ones(api, aws, login, monkeypatch):
    module = api.module(*api.function("LoginFunction"))
    ttl = module.settings.token_ttl_seconds
    clock = SteppedClock(time.time() - ttl - 60)  # sessions that have expired by now
    rewire(monkeypatch, module, "LoginFunction", clock=clock)
    expired = []
    for _ in range(3):
        expired.append(login())
        clock.now += 1
    for me in expired:
        assert api.get(ME, token=me.token).status == 401
    clock.now = time.time()
    fresh = login()
    assert _listed(aws, fresh.token) == {_session_id(fresh): int(clock.now) + ttl}  # the expired ones dropped
    logins = [fresh]
    for _ in range(SESSIONS_LISTED + 2):
        clock.now += 1
        logins.append(login())
    listed = _listed(aws, fresh.token)
    assert set(listed) == {_session_id(me) for me in logins[-SESSIONS_LISTED:]}
    for me in logins:  # a session the list no longer names still works until it expires
        assert api.get(ME, token=me.token).status == 200
    for me in logins[-SESSIONS_LISTED:]:
        assert listed[_session_id(me)] == int(aws.session_of(me.token)["expiresAt"]["N"])


def _atomic_dynamodb_requests(monkeypatch) -> None:
    """DynamoDB applies each request to its item atomically; moto in process takes no lock, so each request is
    made whole here. The races between requests (a read, then a conditional write) stay as they are."""
    lock = threading.Lock()
    original = botocore.client.BaseClient._make_api_call

    def atomic(client, operation_name, api_params):
        if client.meta.service_model.service_name != "dynamodb":
            return original(client, operation_name, api_params)
        with lock:
            return original(client, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", atomic)


@pytest.mark.parametrize("known", [False, True], ids=["new user", "known user"])
def test_racing_logins_of_one_user_are_all_listed(api, aws, wechat, monkeypatch, known):
    """Logins of one user on several instances at once (the login service itself on threads: a handler module
    serves one request at a time): each lands, each session works, and the list names every one."""
    _atomic_dynamodb_requests(monkeypatch)
    module = api.module(*api.function("LoginFunction"))
    settings = module.settings
    service = LoginService(
        settings, UserStore(settings.table_name), module.app_secrets, WeChatClient.from_settings(settings), module.keys
    )
    if known:  # a user item with a list already, which every racer reads and adds to
        wechat.register("race-first", OPENID, SESSION_KEY)
        service.login(LoginRequest(code="race-first"), time.time() + 10)
    racers = SESSIONS_LISTED - (1 if known else 0)
    codes = [f"race-{i}" for i in range(racers)]
    for code in codes:
        wechat.register(code, OPENID, SESSION_KEY)
    start = threading.Barrier(racers)

    def log_in(code: str) -> str:
        start.wait()
        return service.login(LoginRequest(code=code), time.time() + 10).answer["token"]

    with ThreadPoolExecutor(racers) as pool:
        tokens = list(pool.map(log_in, codes))
    users = [item for item in aws.items() if item["sk"]["S"] == "USER"]
    assert len(users) == 1
    listed = set(users[0]["sessions"]["M"])
    assert {parse_token(token).session_id for token in tokens} <= listed
    assert len(listed) == SESSIONS_LISTED
    for token in tokens:
        assert api.get(ME, token=token).status == 200


# --- A keyed retry of a login still in flight ---------------------------------------------------------------------


def _service(module, store: UserStore | None = None, **login) -> LoginService:
    """A login service as the function builds it, on an instance of its own (a handler module serves one request
    at a time), with no metrics."""
    settings = module.settings
    store = store or UserStore(settings.table_name)
    return LoginService(settings, store, module.app_secrets, WeChatClient.from_settings(settings), module.keys, **login)


def test_a_keyed_retry_of_a_login_still_writing_waits_for_its_session_and_gets_the_same_answer(
    api, aws, wechat, monkeypatch
):
    """WeChat answered the first login and it is still writing when the client's retry comes: WeChat tells the
    retry the code is used (40163); the retry waits for the first login's session and gets its answer."""
    _atomic_dynamodb_requests(monkeypatch)
    module = api.module(*api.function("LoginFunction"))
    exchanged = threading.Event()
    slow = UserStore(module.settings.table_name)
    record_login = slow.record_login

    def exchanged_then_slow(*args, **kwargs):
        exchanged.set()  # WeChat has answered the first login; its writes come half a second later
        time.sleep(0.5)
        return record_login(*args, **kwargs)

    slow.record_login = exchanged_then_slow
    first_instance, second_instance = _service(module, slow), _service(module)
    wechat.register("in-flight-1", OPENID, SESSION_KEY)
    request = LoginRequest(code="in-flight-1", idempotency_key="9d3f5a7c1e2b4d6f8a0c2e4b6d8f0a1c")
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(first_instance.login, request, time.time() + 10)
        assert exchanged.wait(5)
        started = time.monotonic()
        retried = second_instance.login(request, time.time() + 10)
        waited = time.monotonic() - started
        first = pending.result()
    assert retried.replayed and not first.replayed
    assert retried.answer["token"] == first.answer["token"]
    assert waited < IN_FLIGHT_WAIT_SECONDS and wechat.stats()["jscode2session"] == 2
    assert len(aws.sessions()) == 1 and api.get(ME, token=first.answer["token"]).status == 200


def test_a_code_used_elsewhere_holds_one_wait_then_every_use_of_it_is_refused_at_once(api, aws, wechat):
    """A code whose exchange wrote nothing here (its login failed after WeChat, or it was exchanged by someone
    else): the first keyed use waits for a session that never comes, once; every later use, whatever its key,
    is refused without waiting and without WeChat, so resending a used code cannot fill instances with waits."""
    clock = SteppedClock(time.time())
    slept = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    refused = []
    service = _service(
        api.module(*api.function("LoginFunction")), clock=clock, sleep=sleep, on_refused_code=lambda: refused.append(1)
    )
    wechat.register("used-elsewhere", OPENID, SESSION_KEY)
    params = {"appid": APPID, "secret": APP_SECRET, "js_code": "used-elsewhere", "grant_type": "authorization_code"}
    assert "openid" in requests.get(wechat.base_url + "/sns/jscode2session", params=params, timeout=5).json()
    for attempt in range(3):
        request = LoginRequest(code="used-elsewhere", idempotency_key=f"{attempt}c4e6a8b0d2f4a6c8e0b2d4f6a8c0e2b")
        with pytest.raises(InvalidCode):
            service.login(request, clock.now + 10)
        assert sum(slept) == pytest.approx(IN_FLIGHT_WAIT_SECONDS)
    assert wechat.stats()["jscode2session"] == 2  # ours and the first keyed use; the others never reach WeChat
    assert refused == [1, 1, 1]  # each use counted once, as a refused code
    assert not [item for item in aws.sessions() if "tokenHash" in item or "sealed" in item]


# --- The operator's actions --------------------------------------------------------------------------------------


def _admin(api, path: str, body: dict) -> tuple[int, dict]:
    """An admin route as API Gateway calls it after IAM authorized the operator."""
    logical_id, code_uri = api.routes[("POST", path)]
    event = http_api_event("POST", path, body=json.dumps(body), authorizer=OPERATOR)
    answer = api.module(logical_id, code_uri).lambda_handler(event, LambdaContext(function_name=logical_id))
    return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else None


def test_an_operators_sign_out_ends_every_session_and_the_next_login_is_listed_alone(api, aws, login):
    sessions = [login() for _ in range(3)]
    user = {"appid": aws.user_of(sessions[0].token)["appid"]["S"], "openid": OPENID}
    status, shown = _admin(api, "/admin/users/show", user)
    assert status == 200 and shown["sessions"] == 3
    status, answer = _admin(api, "/admin/users/signout", {**user, "reason": "lost phone"})
    assert status == 200 and answer["sessionsEnded"] == 3 and answer["user"]["sessions"] == 0
    for me in sessions:
        assert api.get(ME, token=me.token).status == 401
        assert api.post("/v1/auth/token", token=me.token).status == 401
    assert "sessions" not in aws.user_of(sessions[0].token)
    again = login()
    assert set(_listed(aws, again.token)) == {_session_id(again)}
    assert api.get(ME, token=again.token).status == 200
    status, exported = _admin(api, "/admin/users/export", user)
    assert status == 200 and len(exported["sessions"]) == 1
    exported_text = json.dumps(exported)
    assert again.token.split(".")[1] not in exported_text
    assert (
        aws.session_of(again.token)["tokenHash"]["S"] not in exported_text and _session_id(again) not in exported_text
    )


def test_an_operators_block_ends_every_session_with_403(api, aws, login):
    sessions = [login() for _ in range(2)]
    user = {"appid": aws.user_of(sessions[0].token)["appid"]["S"], "openid": OPENID}
    status, answer = _admin(api, "/admin/users/block", {**user, "reason": "abuse"})
    assert status == 200 and answer["sessions"] == 0
    for me in sessions:
        answer = api.get(ME, token=me.token)
        assert (answer.status, answer.body["error"]["code"]) == (403, "user_blocked")
    assert "sessions" not in aws.user_of(sessions[0].token)


def test_an_operators_erasure_ends_every_listed_session_and_a_keyed_retry_gets_nothing(api, aws, wechat, login):
    sessions = [login() for _ in range(2)]
    code, key = "erased-keyed-login", {"Idempotency-Key": "7a1c3e5f9b2d4f6a8c0e1b3d5f7a9c2e"}
    wechat.register(code, OPENID, SESSION_KEY)
    keyed = api.post(LOGIN, {"code": code}, headers=key)
    assert keyed.status == 200
    tokens = [me.token for me in sessions] + [keyed.body["token"]]
    user = {"appid": aws.user_of(tokens[0])["appid"]["S"], "openid": keyed.body["openid"]}
    status, answer = _admin(api, "/admin/users/erase", {**user, "reason": "the user asked"})
    assert status == 200 and answer["erased"]["openid"] == keyed.body["openid"]
    now = time.time()
    assert aws.user_of(tokens[0]) is None
    for token in tokens:
        assert_session_ended(aws.session_of(token), now, erased=True)
        assert api.get(ME, token=token).status == 401
    exchanges = wechat.stats()["jscode2session"]
    retry = api.post(LOGIN, {"code": code}, headers=key)
    assert (retry.status, retry.body["error"]["code"]) == (401, "invalid_code")
    assert wechat.stats()["jscode2session"] == exchanges
    assert _admin(api, "/admin/users/show", user)[0] == 404


# --- The events function -----------------------------------------------------------------------------------------


class Stream:
    """The table's stream as the events function's event source mapping reads it: records from where the last
    read stopped, the template's FilterCriteria applied, in Lambda's shape."""

    def __init__(self, aws):
        self.client = boto3.client("dynamodbstreams")
        self.arn = aws.dynamodb.describe_table(TableName=aws.table)["Table"]["LatestStreamArn"]
        _, properties = stream_consumer(TEMPLATE)
        self.patterns = [json.loads(f["Pattern"]) for f in properties["FilterCriteria"]["Filters"]]
        self.seen = 0

    def new_records(self) -> list[dict]:
        records = []
        for shard in self.client.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]:
            iterator = self.client.get_shard_iterator(
                StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            records += self.client.get_records(ShardIterator=iterator)["Records"]
        fresh, self.seen = records[self.seen :], len(records)
        batch = [lambda_record(record, self.arn) for record in fresh]
        return [record for record in batch if any(matches(p, record) for p in self.patterns)]


def _trail_after(api, aws, stream: Stream, user_id: str) -> list[str]:
    """The events function run on what the stream holds since the last call; then the actions of the user's
    trail, sorted (entries of one second are in no particular order)."""
    logical_id = "EventsFunction"
    module = api.module(logical_id, TEMPLATE["Resources"][logical_id]["Properties"]["CodeUri"])
    batch = stream.new_records()
    if batch:
        answer = module.lambda_handler({"Records": batch}, LambdaContext(function_name=logical_id))
        assert answer == {"batchItemFailures": []}
    items = aws.dynamodb.query(
        TableName=aws.table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"AUDIT#{user_id}"}},
        ConsistentRead=True,
    )["Items"]
    return sorted(item["action"]["S"] for item in items)


def _a_second_per_login(api, monkeypatch) -> SteppedClock:
    """The login service's clock, moved on by the test: each login at a second of its own."""
    clock = SteppedClock(time.time())
    rewire(monkeypatch, api.module(*api.function("LoginFunction")), "LoginFunction", clock=clock)
    return clock


def test_the_trail_has_each_login_and_logout_once_and_nothing_for_a_failed_login_or_the_ttl(
    api, aws, wechat, login, monkeypatch
):
    clock = _a_second_per_login(api, monkeypatch)
    stream = Stream(aws)
    first = login()
    user_id = parse_token(first.token).user_id
    assert _trail_after(api, aws, stream, user_id) == ["signup"]
    clock.now += 1
    second = login()
    assert _trail_after(api, aws, stream, user_id) == ["login", "signup"]
    assert api.post("/v1/auth/logout", token=second.token).status == 204
    assert _trail_after(api, aws, stream, user_id) == ["login", "logout", "signup"]
    # A keyed login that failed (WeChat never answered) leaves its code's record, which names nobody.
    wechat.fault(count=1, mode="drop", paths=["/sns/jscode2session"])
    key = {"Idempotency-Key": "3b5d7f9a1c2e4a6c8e0f2b4d6f8a0c1e"}
    assert api.post(LOGIN, {"code": wechat.login_code()}, headers=key).status == 503
    assert [item for item in aws.sessions() if "tokenHash" not in item and "keyCheck" in item]
    # The TTL's delete of the ended session is no logout.
    ended = aws.session_of(second.token)
    aws.dynamodb.delete_item(TableName=aws.table, Key={"pk": ended["pk"], "sk": ended["sk"]})
    assert _trail_after(api, aws, stream, user_id) == ["login", "logout", "signup"]
    entries = json.dumps(aws.items(), default=str)
    assert first.token.split(".")[1] not in entries and second.token.split(".")[1] not in entries


def test_two_logins_within_one_second_are_two_entries(api, aws, login):
    stream = Stream(aws)
    first = login()
    login()
    assert _trail_after(api, aws, stream, parse_token(first.token).user_id) == ["login", "signup"]


def test_an_erasure_is_one_erased_entry_not_a_logout_per_session(api, aws, login, monkeypatch):
    clock = _a_second_per_login(api, monkeypatch)
    stream = Stream(aws)
    sessions = []
    for _ in range(3):
        sessions.append(login())
        clock.now += 1
    user_id = parse_token(sessions[0].token).user_id
    assert _trail_after(api, aws, stream, user_id) == ["login", "login", "signup"]
    assert api.delete(ME, token=sessions[0].token).status == 204
    assert _trail_after(api, aws, stream, user_id) == ["erased", "login", "login", "signup"]
