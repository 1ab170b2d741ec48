"""Concurrent requests against the local stack, each function run as several instances at once
(tests/hardening/instances.py says why instances and not threads)."""

from __future__ import annotations

import base64
import random
import time

import pytest
import requests

from local.stack import DEV_APP_ID, LOCAL_TABLE
from tests.hardening.instances import LOGIN, ME, Instances, together
from wxlogin.keys.tokens import parse_token, user_id_for
from wxlogin.storage.users import SESSIONS_LISTED

ADDRESS = "198.51.100.7"  # one address, as carrier-grade NAT gives many users


@pytest.fixture(scope="module")
def logins(stack):
    instances = Instances(stack, "LoginFunction", 8)
    yield instances
    instances.stop()


@pytest.fixture(scope="module")
def accounts(stack):
    instances = Instances(stack, "AccountFunction", 2)
    yield instances
    instances.stop()


def _partition(stack, pk: str) -> list[dict]:
    answer = stack.dynamodb().query(
        TableName=LOCAL_TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
        ConsistentRead=True,
    )
    return answer["Items"]


def _me(stack, token: str) -> requests.Response:
    return requests.get(stack.api_url + ME, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _user_item(stack, user_id: str) -> dict | None:
    key = {"pk": {"S": f"USER#{user_id}"}, "sk": {"S": "USER"}}
    return stack.dynamodb().get_item(TableName=LOCAL_TABLE, Key=key, ConsistentRead=True).get("Item")


def _session_item(stack, token: str) -> dict | None:
    """The session item a token leads to (SESSION#<id of its login's code>)."""
    key = {"pk": {"S": f"SESSION#{parse_token(token).session_id}"}, "sk": {"S": "SESSION"}}
    return stack.dynamodb().get_item(TableName=LOCAL_TABLE, Key=key, ConsistentRead=True).get("Item")


def _session_items(stack) -> dict[str, dict]:
    """Every session item (a session, or a keyed login's failure or waiting record), by its key."""
    return {item["pk"]["S"]: item for item in stack.items() if item["pk"]["S"].startswith("SESSION#")}


def _listed(stack, user_id: str) -> set[str]:
    """The session ids the user item lists (where operators and erasure find its sessions)."""
    return set((_user_item(stack, user_id) or {}).get("sessions", {}).get("M", {}))


def test_fifty_parallel_logins_of_one_user_make_one_user_and_fifty_sessions(stack, logins, accounts):
    codes = [stack.code("crowd") for _ in range(50)]
    before = _session_items(stack)
    answers = together(*(lambda i=i: logins.invoke(i, "POST", LOGIN, body={"code": codes[i]}) for i in range(50)))
    assert [status for status, _ in answers] == [200] * 50, answers
    # Exactly one of the racing logins made the user (and so added the one NewUsers metric: functions/login).
    assert sum(body["isNewUser"] for _, body in answers) == 1
    tokens = {body["token"] for _, body in answers}
    openids = {body["openid"] for _, body in answers}
    assert len(tokens) == 50 and len(openids) == 1
    user_id = user_id_for(DEV_APP_ID, openids.pop())
    # The user's partition is its item alone; each login wrote one session, the item its token leads to.
    assert [item["sk"]["S"] for item in _partition(stack, f"USER#{user_id}")] == ["USER"]
    written = {pk: item for pk, item in _session_items(stack).items() if pk not in before}
    refs = [parse_token(token) for token in tokens]
    assert {pk: item["tokenHash"]["S"] for pk, item in written.items()} == {
        f"SESSION#{ref.session_id}": ref.token_hash for ref in refs
    }
    for token in tokens:
        me = _me(stack, token)
        assert me.status_code == 200 and user_id_for(DEV_APP_ID, me.json()["openid"]) == user_id
    # Racing logins each add their own entry to the list; it names only this user's sessions, and the next
    # login trims it back to the newest SESSIONS_LISTED.
    assert _listed(stack, user_id) <= {ref.session_id for ref in refs}
    later = stack.log_in("crowd")["token"]
    listed = _listed(stack, user_id)
    assert parse_token(later).session_id in listed and len(listed) <= SESSIONS_LISTED
    # Erasing the account ends every one of the 51 sessions, listed or not: the listed ones are ended in place
    # and keep nothing of the user; the others hold the generation of a user item that is gone.
    assert accounts.invoke(0, "DELETE", ME, token=later)[0] == 204
    assert [_me(stack, token).status_code for token in [*tokens, later]] == [401] * 51
    assert _partition(stack, f"USER#{user_id}") == []
    for session_id in listed:
        ended = _session_items(stack)[f"SESSION#{session_id}"]
        assert "endedAt" in ended and not {"gen", "uid", "sealed"} & set(ended), ended


def test_a_patch_racing_a_delete_never_resurrects_the_user(stack, accounts):
    outcomes = []
    for round_number in range(30):
        login = stack.log_in(f"racer-{round_number}")
        pk = f"USER#{user_id_for(DEV_APP_ID, login['openid'])}"
        # A few milliseconds either way moves the PATCH across every step of the DELETE.
        delay = random.Random(round_number).uniform(0, 0.03)

        def patch(token=login["token"], delay=delay):
            time.sleep(delay)
            return accounts.invoke(0, "PATCH", ME, token=token, body={"nickName": "still here?"})

        (patch_status, patch_body), (delete_status, _) = together(
            patch, lambda token=login["token"]: accounts.invoke(1, "DELETE", ME, token=token)
        )
        assert delete_status == 204
        assert patch_status in (200, 401), patch_body
        assert _partition(stack, pk) == [], f"round {round_number}: the user came back after its deletion"
        assert _me(stack, login["token"]).status_code == 401
        ended = _session_item(stack, login["token"])
        assert "endedAt" in ended and "gen" not in ended, f"round {round_number}: the session was not ended"
        outcomes.append(patch_status)
    print(f"PATCH answers over 30 races: {sorted(outcomes)}")


def test_no_token_from_before_or_during_an_erasure_ever_works_again(stack, logins, accounts):
    """DELETE /v1/me racing a login of the same person, on separate instances, 30 times; then the person
    logs in again. The token the delete used never works again, and a token the racing login got either
    works from the start (that login came after the delete: a new user) or never does."""
    racing_outcomes = []
    for round_number in range(30):
        person = f"eraser-{round_number}"
        before = stack.log_in(person)
        code = stack.code(person)
        delay = random.Random(round_number).uniform(0, 0.03)

        def racing_login(code=code, delay=delay, index=round_number):
            time.sleep(delay)
            return logins.invoke(index, "POST", LOGIN, body={"code": code})

        (login_status, racing), (delete_status, _) = together(
            racing_login, lambda token=before["token"]: accounts.invoke(1, "DELETE", ME, token=token)
        )
        assert delete_status == 204 and login_status == 200, racing
        during = _me(stack, racing["token"]).status_code
        later = stack.log_in(person)
        assert _me(stack, later["token"]).status_code == 200
        assert _me(stack, before["token"]).status_code == 401, f"round {round_number}: erased token works"
        assert _me(stack, racing["token"]).status_code == during, f"round {round_number}: a 401 token came back"
        racing_outcomes.append(during)
    print(f"racing logins' tokens over 30 erasures: {sorted(racing_outcomes)}")


def _register(stack, code: str, session_key: str) -> None:
    stack.simulator(
        "/_sim/sessions",
        {"appid": DEV_APP_ID, "code": code, "openid": f"oTwin{code[-6:]}", "session_key": session_key},
    )


def _retry_records(stack) -> list[dict]:
    """The session items of logins made with an Idempotency-Key: each holds its sealed answer for a retry."""
    return [item for item in stack.items() if item["pk"]["S"].startswith("SESSION#") and "keyCheck" in item]


def test_a_retried_login_gets_the_same_session_and_the_retry_record_holds_no_session_key(stack, logins):
    session_key = base64.b64encode(b"twin-session-key").decode()
    _register(stack, "twin-code-sequential", session_key)
    key = {"Idempotency-Key": "retry-key-Xq3vR8kLm2Np7sTu4w"}
    first = logins.invoke(0, "POST", LOGIN, body={"code": "twin-code-sequential"}, headers=key)
    again = logins.invoke(1, "POST", LOGIN, body={"code": "twin-code-sequential"}, headers=key)
    assert first[0] == again[0] == 200 and first[1]["token"] == again[1]["token"]
    # The retry's record is the login's own session item, which holds the token's hash and the sealed answer.
    session = _session_item(stack, first[1]["token"])
    assert session["tokenHash"]["S"] == parse_token(first[1]["token"]).token_hash and "sealed" in session
    _assert_no_secret_in_retry_records(stack, session_key, first[1]["token"])


def test_two_identical_logins_at_once_get_one_session(stack, logins):
    """A client retrying while its first request is still in flight (a timeout on a slow network)."""
    for round_number in range(5):
        session_key = base64.b64encode(f"twin-round-{round_number:05}".encode()).decode()
        code = f"twin-code-concurrent-{round_number:03}"
        _register(stack, code, session_key)
        key = {"Idempotency-Key": f"twin-key-Xq3vR8kLm2Np7sTu-{round_number:03}"}
        body = {"code": code}
        answers = together(
            *(lambda i=i, b=body, k=key: logins.invoke(i, "POST", LOGIN, body=b, headers=k) for i in range(2))
        )
        later = logins.invoke(2, "POST", LOGIN, body=body, headers=key)
        tokens = {answer.get("token") for status, answer in [*answers, later] if status == 200}
        # Never two sessions for one code, and a later retry always gets the one there is.
        assert len(tokens) == 1 and later[0] == 200, (answers, later)
        session = _session_item(stack, later[1]["token"])
        assert session["tokenHash"]["S"] == parse_token(later[1]["token"]).token_hash
        _assert_no_secret_in_retry_records(stack, session_key, later[1]["token"])
        # The twin that reaches WeChat second gets 40163 before the first has stored its session; it must
        # wait for that session (LoginService._wait_for_session), not answer invalid_code.
        assert [status for status, _ in answers] == [200, 200], (round_number, answers)


def _assert_no_secret_in_retry_records(stack, session_key: str, token: str) -> None:
    records = _retry_records(stack)
    assert records
    raw_key = base64.b64decode(session_key)
    for record in records:
        blob = b"".join(
            value.get("B", b"") + value.get("S", "").encode() + value.get("N", "").encode() for value in record.values()
        )
        for secret in (session_key.encode(), raw_key, token.encode(), token.split(".")[1].encode()):
            assert secret not in blob and base64.b64encode(secret) not in blob


def test_junk_codes_racing_valid_logins_from_the_same_address_over_four_instances_cost_them_nothing(stack):
    """One client's junk and its neighbours' valid codes, all from one address, at once on four instances:
    every valid code logs in and every junk code is WeChat's own 401 (each reaching WeChat once)."""
    instances = Instances(stack, "LoginFunction", 4)
    try:
        before = requests.get(stack.sim + "/_sim/stats", timeout=10).json()["calls"]["jscode2session"]
        codes = [stack.code(f"neighbour-{i}") for i in range(10)]
        junk = [
            lambda i=i: instances.invoke(i, "POST", LOGIN, body={"code": f"junk-{i:03}"}, source_ip=ADDRESS)
            for i in range(20)
        ]
        valid = [
            lambda i=i: instances.invoke(i, "POST", LOGIN, body={"code": codes[i]}, source_ip=ADDRESS)
            for i in range(10)
        ]
        answers = together(*(call for pair in zip(junk[::2], junk[1::2], valid, strict=True) for call in pair))
        after = requests.get(stack.sim + "/_sim/stats", timeout=10).json()["calls"]["jscode2session"]
        assert sorted(status for status, _ in answers) == [200] * 10 + [401] * 20
        assert after - before == 30
    finally:
        instances.stop()


@pytest.fixture(scope="module")
def profiles(stack):
    instances = Instances(stack, "ProfileFunction", 2)
    yield instances
    instances.stop()


def test_a_phone_number_in_flight_through_wechat_retries_never_lands_on_the_account_made_after_an_erasure(
    stack, logins, accounts, profiles
):
    """On separate instances: POST /v1/profile/phone with session S0 while WeChat answers -1 twice (the function
    backs off and retries), DELETE /v1/me with S0, and the same person's new sign-up. The number lands on no
    account: the write is conditional on S0's generation, so it answers 401 (before, 12 of 12 tries landed)."""
    phone_path = ["/wxa/business/getuserphonenumber"]
    outcomes = []
    for round_number in range(6):
        person = f"phone-racer-{round_number}"
        before = stack.log_in(person)
        # A first number, so the instance holds a WeChat access token and the race is the phone call itself.
        code = stack.simulator("/_sim/phone-code", {"appid": DEV_APP_ID, "user": person})["code"]
        assert (
            profiles.invoke(round_number, "POST", "/v1/profile/phone", token=before["token"], body={"code": code})[0]
            == 200
        )
        # Busy after a long wait (longer than the erasure and the new sign-up take), then busy again at once.
        stack.simulator(
            "/_sim/faults", {"count": 1, "errcode": -1, "mode": "hang", "seconds": 1.5, "paths": phone_path}
        )
        stack.simulator("/_sim/faults", {"count": 1, "errcode": -1, "paths": phone_path})
        code = stack.simulator("/_sim/phone-code", {"appid": DEV_APP_ID, "user": person, "phone": "13700000009"})[
            "code"
        ]

        def erase_and_sign_up_again(token=before["token"], person=person, index=round_number):
            time.sleep(0.1)  # the phone request is waiting on WeChat by now
            assert accounts.invoke(index, "DELETE", ME, token=token)[0] == 204
            status, again = logins.invoke(index, "POST", LOGIN, body={"code": stack.code(person)})
            assert status == 200 and again["isNewUser"], again
            return again

        (phone_status, phone_body), again = together(
            lambda token=before["token"], code=code, index=round_number: profiles.invoke(
                index + 1, "POST", "/v1/profile/phone", token=token, body={"code": code}
            ),
            erase_and_sign_up_again,
        )
        assert phone_status == 401 and phone_body["error"]["code"] == "unauthorized", phone_body
        me = _me(stack, again["token"])
        assert me.status_code == 200 and me.json()["phone"] is None, f"round {round_number}: {me.json()}"
        pk = f"USER#{user_id_for(DEV_APP_ID, again['openid'])}"
        assert all("phoneNumber" not in item for item in _partition(stack, pk))
        outcomes.append(phone_status)
    print(f"phone writes racing an erasure and a new sign-up: {outcomes}")
