"""Replaying login codes as an attacker would, against the local stack with each function run as several
instances: a stranger who captured a code, a client retrying one code from many instances at once, retries
after the session ended, and a client logging one user in over and over.

A code logs in once: its session item is keyed by it (a keyed hash of the code), so a keyed retry finds the
login it repeats with one read, and a stranger's use of the code, with another Idempotency-Key or none, finds
a session that is not its own. What a user relies on is checked through the answers: the stranger gets 401
invalid_code and never the victim's token, a retry gets the login's own answer while its session lives and
nothing after, and every request is answered (a worker that stalls past the function's timeout answers
nothing, which Instances.invoke refuses).
"""

from __future__ import annotations

import base64
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from local.stack import DEV_APP_ID, LOCAL_TABLE
from tests.hardening.instances import LOGIN, LOGOUT, ME, Instances, operator, together
from wxlogin.keys.tokens import parse_token, user_id_for
from wxlogin.storage.users import SESSIONS_LISTED

VICTIM_KEY = {"Idempotency-Key": "victim-key-Xq3vR8kLm2Np7sTu4wYz"}
STRANGER_KEY = {"Idempotency-Key": "0f1e2d3c4b5a69788796a5b4c3d2e1f0"}
INVALID_CODE = "invalid_code"
# How long WeChat's risk rank keeps a sign-up in flight after its code exchange (under RISK_RANK_SECONDS).
IN_FLIGHT_SECONDS = 1.5
ADDRESS = "198.51.100.7"  # one address, as carrier-grade NAT gives many users


@pytest.fixture(scope="module")
def logins(stack):
    instances = Instances(stack, "LoginFunction", 6)
    yield instances
    instances.stop()


@pytest.fixture(scope="module")
def ranking_login(stack):
    """An instance that asks WeChat's risk rank at sign-up: after its code exchange, a login of a new user is in
    flight for as long as the simulator makes getuserriskrank wait."""
    instance = Instances(stack, "LoginFunction", 1, SIGNUP_RISK_CHECK="true")
    yield instance
    instance.stop()


def _calls(stack, name: str) -> int:
    return requests.get(stack.sim + "/_sim/stats", timeout=10).json()["calls"].get(name, 0)


def _refused(status_body: tuple[int, dict]) -> bool:
    """401 invalid_code, and nothing in the answer a client could use."""
    status, body = status_body
    return status == 401 and body == {"error": {"code": INVALID_CODE, "message": body["error"]["message"]}}


def _me(stack, token: str) -> int:
    return requests.get(stack.api_url + ME, headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code


def _same_login(answer: dict) -> dict:
    """An answer without its access token, which each answer signs afresh (the session token is the login's)."""
    return {name: value for name, value in answer.items() if not name.startswith("accessToken")}


def _login(stack, code: str, headers: dict | None = None) -> tuple[int, dict]:
    answer = requests.post(stack.api_url + LOGIN, json={"code": code}, headers=headers or {}, timeout=30)
    return answer.status_code, answer.json()


def _session_item(stack, token: str) -> dict | None:
    key = {"pk": {"S": f"SESSION#{parse_token(token).session_id}"}, "sk": {"S": "SESSION"}}
    return stack.dynamodb().get_item(TableName=LOCAL_TABLE, Key=key, ConsistentRead=True).get("Item")


def _session_keys(stack) -> set[str]:
    return {item["pk"]["S"] for item in stack.items() if item["pk"]["S"].startswith("SESSION#")}


def _listed(stack, user_id: str) -> dict:
    key = {"pk": {"S": f"USER#{user_id}"}, "sk": {"S": "USER"}}
    item = stack.dynamodb().get_item(TableName=LOCAL_TABLE, Key=key, ConsistentRead=True).get("Item") or {}
    return item.get("sessions", {}).get("M", {})


def test_a_stranger_replaying_a_captured_code_while_its_login_is_in_flight_never_gets_the_token(
    stack, logins, ranking_login
):
    """The victim's keyed sign-up has exchanged its code and is still writing (WeChat's risk rank is slow) when
    a stranger sends the same code with its own Idempotency-Key, and with none: each is 401 invalid_code, and the
    victim's own login still gets its session."""
    for round_number in range(3):
        code = stack.code(f"victim-in-flight-{round_number}")
        ranked = _calls(stack, "getuserriskrank")
        stack.simulator(
            "/_sim/faults",
            {"count": 1, "mode": "slow", "seconds": IN_FLIGHT_SECONDS, "paths": ["/wxa/getuserriskrank"]},
        )
        with ThreadPoolExecutor(1) as pool:
            victim = pool.submit(ranking_login.invoke, 0, "POST", LOGIN, body={"code": code}, headers=VICTIM_KEY)
            while _calls(stack, "getuserriskrank") == ranked:  # the victim's code is spent at WeChat by now
                assert not victim.done(), victim.result()
                time.sleep(0.01)
            strangers = together(
                lambda code=code: logins.invoke(1, "POST", LOGIN, body={"code": code}, headers=STRANGER_KEY),
                lambda code=code: logins.invoke(2, "POST", LOGIN, body={"code": code}),
            )
            status, answer = victim.result()
        assert status == 200 and answer["isNewUser"], answer
        assert all(_refused(stranger) for stranger in strangers), (round_number, strangers)
        assert answer["token"] not in repr(strangers)
        assert _me(stack, answer["token"]) == 200
        # The code's one session item is the victim's.
        assert _session_item(stack, answer["token"])["tokenHash"]["S"] == parse_token(answer["token"]).token_hash


def test_a_stranger_replaying_a_captured_code_after_its_login_is_refused_at_once(stack, logins):
    """After the victim's keyed login: the stranger's keys are refused by the session item alone, with no call to
    WeChat; without a key, WeChat itself says the code is used. Never a token, however often it tries."""
    code = stack.code("victim-done")
    status, answer = logins.invoke(0, "POST", LOGIN, body={"code": code}, headers=VICTIM_KEY)
    assert status == 200, answer
    exchanged = _calls(stack, "jscode2session")
    keys = [{"Idempotency-Key": f"stranger-{i:02}-Xq3vR8kLm2Np7sTu4wYz"} for i in range(8)]
    keyed = together(
        *(lambda i=i: logins.invoke(i, "POST", LOGIN, body={"code": code}, headers=keys[i]) for i in range(8))
    )
    assert all(_refused(refused) for refused in keyed), keyed
    assert _calls(stack, "jscode2session") == exchanged
    plain = [logins.invoke(i, "POST", LOGIN, body={"code": code}) for i in range(2)]
    assert all(_refused(refused) for refused in plain), plain
    assert answer["token"] not in repr([*keyed, *plain])
    # The victim's retry still gets its own answer, and its session still works.
    status, again = logins.invoke(3, "POST", LOGIN, body={"code": code}, headers=VICTIM_KEY)
    assert status == 200 and _same_login(again) == _same_login(answer)
    assert _me(stack, answer["token"]) == 200


def test_many_concurrent_keyed_retries_of_one_code_over_several_instances_make_one_session(stack, logins):
    """A client on a flaky network resending one login (one code, one Idempotency-Key) from six instances at
    once, five times over: one session item per code, and every answer is that session's token. The resends that
    WeChat tells the code is used wait for that session together (one puts the code's waiting record, the others
    join it: at most MAX_WAITERS), so none is refused while the login it repeats is about to answer 200."""
    for round_number in range(5):
        code = stack.code(f"resender-{round_number}")
        before = _session_keys(stack)
        answers = together(
            *(
                lambda i=i, code=code: logins.invoke(i, "POST", LOGIN, body={"code": code}, headers=VICTIM_KEY)
                for i in range(6)
            )
        )
        status, later = logins.invoke(round_number, "POST", LOGIN, body={"code": code}, headers=VICTIM_KEY)
        assert status == 200 and later["isNewUser"], later
        token = later["token"]
        assert _session_keys(stack) - before == {f"SESSION#{parse_token(token).session_id}"}
        assert _session_item(stack, token)["tokenHash"]["S"] == parse_token(token).token_hash
        assert [(status, _same_login(body)) for status, body in answers] == [(200, _same_login(later))] * 6, (
            round_number,
            answers,
        )


@pytest.mark.parametrize("ended_by", ["logout", "erasure", "operator sign-out"])
def test_a_keyed_retry_after_the_session_ended_gets_no_token(stack, logins, ended_by):
    """Within the retry window, but after the session ended: 401 invalid_code, nothing in the answer, no call to
    WeChat, on whichever instance the retry lands."""
    code = stack.code(f"ended-by-{ended_by}")
    status, answer = _login(stack, code, VICTIM_KEY)
    assert status == 200, answer
    token = answer["token"]
    status, again = _login(stack, code, VICTIM_KEY)  # a retry before the end gets the same answer
    assert status == 200 and _same_login(again) == _same_login(answer)
    if ended_by == "logout":
        ended = requests.post(stack.api_url + LOGOUT, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert ended.status_code == 204
    elif ended_by == "erasure":
        erased = requests.delete(stack.api_url + ME, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert erased.status_code == 204
    else:
        operator(stack, "signout", {"appid": DEV_APP_ID, "openid": answer["openid"], "reason": "phone stolen"})
    exchanged = _calls(stack, "jscode2session")
    retries = [logins.invoke(i, "POST", LOGIN, body={"code": code}, headers=VICTIM_KEY) for i in range(3)]
    retries.append(_login(stack, code, VICTIM_KEY))
    assert all(_refused(retry) for retry in retries), retries
    assert token not in repr(retries) and _calls(stack, "jscode2session") == exchanged
    assert _me(stack, token) == 401


def test_a_client_logging_one_user_in_fifty_times_keeps_the_list_bounded_and_the_other_device_in(stack, logins):
    """A looping client (a login on every launch, say) logs the same person in 50 times while their other
    device keeps its one session: the user item lists at most SESSIONS_LISTED sessions (the newest), every
    session still works until it ends, and the other device is never logged out by it; an operator's sign-out
    then ends all 51, listed or not."""
    person = "looping-client"
    other_device = _login(stack, stack.code(person))[1]["token"]
    user_id = parse_token(other_device).user_id
    looped = []
    for i in range(50):
        status, answer = logins.invoke(i, "POST", LOGIN, body={"code": stack.code(person)})
        assert status == 200, answer
        looped.append(answer["token"])
        assert len(_listed(stack, user_id)) <= SESSIONS_LISTED
    # The newest are listed (by expiry, to the second): the last login's among them.
    listed = set(_listed(stack, user_id))
    assert len(listed) == SESSIONS_LISTED and parse_token(looped[-1]).session_id in listed
    assert listed <= {parse_token(token).session_id for token in looped}
    assert _me(stack, other_device) == 200
    assert all(_me(stack, token) == 200 for token in looped)
    assert user_id_for(DEV_APP_ID, answer["openid"]) == user_id
    operator(stack, "signout", {"appid": DEV_APP_ID, "openid": answer["openid"], "reason": "lost phone"})
    assert [_me(stack, token) for token in [other_device, *looped]] == [401] * 51
    assert _listed(stack, user_id) == {}
    assert _me(stack, _login(stack, stack.code(person))[1]["token"]) == 200


def test_a_flood_of_used_codes_leaves_the_neighbours_logins_working(stack, logins):
    """One client resending used codes from one address on every instance, each time with a fresh
    Idempotency-Key, while its neighbours behind the same address log in. Two codes logged in; two were spent by
    a login that failed after WeChat took them (data that does not open: 422), so no session of theirs will ever
    come and one request each waits for it. Every used code is refused; every neighbour gets its session."""
    logged_in = [stack.code(f"flooder-{i}") for i in range(2)]
    for code in logged_in:
        assert _login(stack, code)[0] == 200
    spent = [stack.code(f"flooder-spent-{i}") for i in range(2)]
    junk = {"encryptedData": base64.b64encode(bytes(32)).decode(), "iv": base64.b64encode(bytes(16)).decode()}
    for code in spent:
        answer = requests.post(stack.api_url + LOGIN, json={"code": code, **junk}, timeout=30)
        assert answer.status_code == 422, answer.text
    used = [*logged_in, *spent]
    neighbours = [stack.code(f"neighbour-{i}") for i in range(6)]
    flood = [
        lambda i=i: logins.invoke(
            i,
            "POST",
            LOGIN,
            body={"code": used[i % len(used)]},
            headers={"Idempotency-Key": f"flood-{i:03}-Xq3vR8kLm2Np7sTu4wYz"},
            source_ip=ADDRESS,
        )
        for i in range(16)
    ]
    valid = [
        lambda i=i: logins.invoke(i, "POST", LOGIN, body={"code": neighbours[i]}, source_ip=ADDRESS) for i in range(6)
    ]
    answers = together(*flood, *valid)
    assert all(_refused(answer) for answer in answers[:16]), answers[:16]
    assert [status for status, _ in answers[16:]] == [200] * 6, answers[16:]
    assert all(_me(stack, body["token"]) == 200 for _, body in answers[16:])
    # Later uses of the spent codes are refused at once: no WeChat call, nothing waits.
    exchanged = _calls(stack, "jscode2session")
    again = [logins.invoke(i, "POST", LOGIN, body={"code": code}, headers=STRANGER_KEY) for i, code in enumerate(spent)]
    assert all(_refused(answer) for answer in again) and _calls(stack, "jscode2session") == exchanged
