"""Trust attacks through the local stack, as an outside client plays them against `make run`.

Each test is one class of attack: the request a client sends, and what it must never get (a 500, another
account's data, a refusal of what WeChat itself hands over).
"""

from __future__ import annotations

import threading

import pytest
import requests

from local.stack import DEV_APP_ID, LocalStack, Ports


@pytest.fixture(scope="module")
def stack():
    # Four instances per function, so the racing requests run at once, as several Lambda instances run them.
    with LocalStack(ports=Ports(0, 0, 0), overrides={"LOCAL_INSTANCES": "4"}, quiet=True) as running:
        yield running


def _login(stack, user: str) -> dict:
    code = requests.post(stack.wechat.base_url + "/_sim/login", json={"appid": DEV_APP_ID, "user": user}, timeout=5)
    answer = requests.post(stack.api_url + "/v1/auth/login", json={"code": code.json()["code"]}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _writes_of_an_erased_session_while_the_person_signs_up_again(stack, user: str) -> tuple[list, dict]:
    """(every answer the erased session got while the same person logged in again, that new login)."""
    old = _login(stack, user)
    headers = {"Authorization": f"Bearer {old['token']}"}
    assert requests.delete(stack.api_url + "/v1/me", headers=headers, timeout=30).status_code == 204
    stop, answers = threading.Event(), []

    def keep_writing(method: str) -> None:
        while not stop.is_set():
            answer = requests.request(
                method, stack.api_url + "/v1/me", headers=headers, json={"nickName": "old account"}, timeout=30
            )
            answers.append((method, answer.status_code, answer.text))

    writers = [threading.Thread(target=keep_writing, args=(method,)) for method in ("GET", "PATCH", "POST")]
    for writer in writers:
        writer.start()
    try:
        new = _login(stack, user)
    finally:
        stop.set()
        for writer in writers:
            writer.join(timeout=60)
    return answers, new


def test_an_erased_session_racing_the_same_persons_new_sign_up_is_refused_never_a_500(stack):
    """A client keeps using its session after DELETE /v1/me while the same person signs up again: every
    answer to the old session is 401 (never 500, which the new account's user item, read while DynamoDB
    creates it, once caused locally), and nothing it sent lands on the new account."""
    for attempt in range(6):
        answers, new = _writes_of_an_erased_session_while_the_person_signs_up_again(stack, f"eraser-{attempt}")
        assert new["isNewUser"] is True
        assert {status for _, status, _ in answers} == {401}, [a for a in answers if a[1] != 401][:3]
        me = requests.get(stack.api_url + "/v1/me", headers={"Authorization": f"Bearer {new['token']}"}, timeout=30)
        assert me.status_code == 200 and me.json()["profile"] is None
