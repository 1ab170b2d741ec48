"""What a session may write, as an attacker with patience tries to bend it: a phone code another user tapped,
and writes still in flight while the account is erased and the same person signs up again. Each of these
bound the number or the profile to the wrong account on the code it was written against."""

from __future__ import annotations

import threading
import time

import pytest

from tests.support.values import APPID, OPENID, SESSION_KEY
from wxlogin.keys.tokens import user_id_for
from wxlogin.storage.users import user_pk

PHONE, DECRYPT, ME = "/v1/profile/phone", "/v1/profile/decrypt", "/v1/me"
VICTIM = "oVictim000000000000000000000"
OTHER_KEY = "ZmZmZmZmZmZmZmZmZmZmZg=="


def _user_item(aws, openid: str = OPENID) -> dict | None:
    key = (user_pk(user_id_for(APPID, openid)), "USER")
    return next((item for item in aws.items() if (item["pk"]["S"], item["sk"]["S"]) == key), None)


def test_a_phone_code_another_user_tapped_binds_nothing(api, aws, wechat, login):
    attacker = login()
    victims_code = wechat.phone_code(VICTIM, phone="13911112222")
    answer = api.post(PHONE, {"code": victims_code}, token=attacker.token)
    assert answer.status == 400 and answer.body["error"]["code"] == "invalid_request", answer.body
    assert "phoneNumber" not in _user_item(aws)
    assert api.get(ME, token=attacker.token).body["phone"] is None
    # The code was not spent on the attacker: its owner still binds it.
    victim = login(openid=VICTIM, session_key=OTHER_KEY)
    bound = api.post(PHONE, {"code": victims_code}, token=victim.token)
    assert bound.status == 200 and bound.body["purePhoneNumber"] == "13911112222"


def _erase_and_sign_up_again(api, login, token: str):
    assert api.delete(ME, token=token).status == 204
    again = login(session_key=OTHER_KEY)
    assert again.answer.body["isNewUser"] is True
    return again


@pytest.mark.parametrize("round_number", range(3))
def test_a_phone_number_in_flight_while_the_account_is_erased_lands_nowhere(api, aws, wechat, login, round_number):
    """WeChat answers -1 twice (the function backs off and retries); meanwhile DELETE /v1/me with the same
    session answers 204 and the person signs up again. The number must not land on the new account."""
    me = login()
    assert api.post(PHONE, {"code": wechat.phone_code(OPENID)}, token=me.token).status == 200  # a token in hand
    path = ["/wxa/business/getuserphonenumber"]
    wechat.fault(count=1, errcode=-1, mode="hang", seconds=0.6, paths=path)
    wechat.fault(count=1, errcode=-1, paths=path)
    calls = wechat.stats()["getuserphonenumber"]
    result = {}
    code = wechat.phone_code(OPENID, phone="13700000001")
    request = threading.Thread(target=lambda: result.update(answer=api.post(PHONE, {"code": code}, token=me.token)))
    request.start()
    deadline = time.monotonic() + 5
    while wechat.stats()["getuserphonenumber"] == calls and time.monotonic() < deadline:
        time.sleep(0.01)  # the phone request is now waiting on WeChat
    again = _erase_and_sign_up_again(api, login, me.token)
    request.join(timeout=10)
    answer = result["answer"]
    assert wechat.stats()["getuserphonenumber"] == calls + 3  # busy, busy, then the number
    assert answer.status == 401 and answer.body["error"]["code"] == "unauthorized", answer.body
    assert "phoneNumber" not in _user_item(aws)
    assert api.get(ME, token=again.token).body["phone"] is None


def _racing_the_write(monkeypatch, api, logical_id: str, before_write):
    """Runs `before_write` in the instant between a request's session check and its user write."""
    store = api.module(*api.function(logical_id)).auth.store
    update = store.update_user

    def erased_meanwhile(*args, **kwargs):
        before_write()
        return update(*args, **kwargs)

    monkeypatch.setattr(store, "update_user", erased_meanwhile)


def test_a_decrypt_and_a_patch_racing_an_erasure_answer_401_and_store_nothing(api, aws, wechat, login, monkeypatch):
    first = login()
    data = wechat.user_data(OPENID, session_key=SESSION_KEY, profile={"nickName": "BeforeErasure"})
    _racing_the_write(monkeypatch, api, "ProfileFunction", lambda: _erase_and_sign_up_again(api, login, first.token))
    answer = api.post(DECRYPT, data, token=first.token)
    assert answer.status == 401 and answer.body["error"]["code"] == "unauthorized", answer.body
    assert "nickName" not in _user_item(aws)

    second = login(session_key=OTHER_KEY)
    _racing_the_write(monkeypatch, api, "AccountFunction", lambda: _erase_and_sign_up_again(api, login, second.token))
    answer = api.patch(ME, {"nickName": "AlsoBefore"}, token=second.token)
    assert answer.status == 401 and answer.body["error"]["code"] == "unauthorized", answer.body
    assert "nickName" not in _user_item(aws)


def test_an_erasure_by_a_session_of_an_erased_account_erases_nothing_of_the_new_one(api, aws, login, monkeypatch):
    first, other = login(), login()  # two sessions of one account
    auth = api.module(*api.function("AccountFunction")).auth
    check = auth.user

    def checked_then_erased_meanwhile(ref):
        user = check(ref)  # the first session passes its check...
        monkeypatch.setattr(auth, "user", check)
        _erase_and_sign_up_again(api, login, other.token)  # ...then the other erases and the person signs up
        return user

    monkeypatch.setattr(auth, "user", checked_then_erased_meanwhile)
    answer = api.delete(ME, token=first.token)
    monkeypatch.undo()
    assert answer.status == 401 and answer.body["error"]["code"] == "unauthorized", answer.body
    assert _user_item(aws) is not None  # the new account stands, with its session
