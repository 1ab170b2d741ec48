"""The decrypt failure every WeChat SDK's users report, end to end with moto and the simulator: data obtained,
another wx.login, then decryption; WeChat's checksession telling a stale key from bad data; and the optional
risk rank at sign-up."""

from __future__ import annotations

import dataclasses
import time

import pytest

from tests.support.inprocess import rewire

DECRYPT, PHONE, LOGIN = "/v1/profile/decrypt", "/v1/profile/phone", "/v1/auth/login"
REFUSED = {
    "error": {
        "code": "invalid_encrypted_data",
        "message": "The encrypted data does not match this session; log in again and fetch the data anew.",
    }
}
EXPIRED = {
    "error": {
        "code": "session_key_expired",
        "message": "WeChat no longer holds this login's session key; call wx.login, log in again, then fetch the "
        "data anew.",
    }
}


def _log_in(api, wechat, user: str = "ann", **request) -> dict:
    answer = api.post(LOGIN, {"code": wechat.login_code(user)}, **request)
    assert answer.status == 200, answer.body
    return answer.body


def _profile_function(api):
    return api.module(*api.function("ProfileFunction"))


def _user_item(aws) -> dict:
    return next(item for item in aws.items() if item["sk"]["S"] == "USER")


def test_the_classic_failure_succeeds_within_the_window_and_gets_the_documented_answer_after(
    api, aws, wechat, monkeypatch
):
    first = _log_in(api, wechat)
    data = wechat.user_data(first["openid"], profile={"nickName": "Ann"})  # under the first login's key
    again = _log_in(api, wechat)  # another wx.login (another page, a re-login): a new session_key
    user = _user_item(aws)
    assert user["previousSessionKey"]["B"] != user["sessionKey"]["B"]
    assert aws.session_key_of({**user, "sessionKey": user["previousSessionKey"]})  # sealed as the current one

    answer = api.post(DECRYPT, data, token=again["token"])
    assert answer.status == 200, answer.body
    assert answer.body["profile"]["nickName"] == "Ann"
    assert api.get("/v1/me", token=again["token"]).body["profile"]["nickName"] == "Ann"

    # After the window the replaced key opens nothing: WeChat says the current key is fine, so the data is stale.
    session_keys = _profile_function(api).session_keys
    monkeypatch.setattr(session_keys, "clock", lambda: time.time() + 301)
    assert api.post(DECRYPT, data, token=again["token"]).body == REFUSED


def test_legacy_phone_data_from_before_a_new_login_binds_within_the_window(api, wechat):
    first = _log_in(api, wechat, "bo")
    data = wechat.user_data(first["openid"], kind="phone", phone="13912345678")
    again = _log_in(api, wechat, "bo")
    answer = api.post(PHONE, data, token=again["token"])
    assert answer.status == 200 and answer.body["purePhoneNumber"] == "13912345678", answer.body


def test_a_key_wechat_no_longer_holds_is_session_key_expired_once_and_a_new_login_heals(api, aws, wechat):
    me = _log_in(api, wechat, "cy")
    wechat.login_code("cy")  # wx.login on the device whose code never reached us: WeChat dropped our key
    data = wechat.user_data(me["openid"])  # encrypted under the device's new key
    before = [item for item in aws.items() if item["sk"]["S"] == "USER"]

    expired = api.post(DECRYPT, data, token=me["token"])
    assert (expired.status, expired.body) == (401, EXPIRED)
    assert wechat.stats()["checksession"] == 1
    assert [item for item in aws.items() if item["sk"]["S"] == "USER"] == before  # nothing of the user changed

    for _ in range(5):  # junk from this session within the interval: today's 422, no WeChat call
        assert api.post(DECRYPT, data, token=me["token"]).body == REFUSED
    assert wechat.stats()["checksession"] == 1

    healed = _log_in(api, wechat, "cy")  # what the client does on session_key_expired
    fresh = wechat.user_data(me["openid"], profile={"nickName": "Cy"})
    assert api.post(DECRYPT, fresh, token=healed["token"]).body["profile"]["nickName"] == "Cy"


def test_the_key_check_depends_on_the_stored_key_only_never_on_the_data(api, wechat):
    """Junk and genuine-but-stale data get the same answer: the check asks WeChat about our key alone."""
    me = _log_in(api, wechat, "di")
    stale = wechat.user_data(me["openid"])
    _log_in(api, wechat, "di")
    newest = _log_in(api, wechat, "di")  # the stale data's key is now two logins old
    junk = {**stale, "encryptedData": "A" * 64}
    answers = [api.post(DECRYPT, body, token=newest["token"]) for body in (stale, junk)]
    assert [(a.status, a.body) for a in answers] == [(422, REFUSED), (422, REFUSED)]
    assert wechat.stats()["checksession"] == 1  # asked once (valid), not once per request


def test_when_wechat_cannot_answer_the_check_the_answer_is_the_422(api, wechat):
    me = _log_in(api, wechat, "ed")
    wechat.login_code("ed")
    data = wechat.user_data(me["openid"])
    wechat.fault(errcode=-1, count=10, paths=["/wxa/checksession"])
    assert api.post(DECRYPT, data, token=me["token"]).body == REFUSED


# ------------------------------------------------------------------------------------------- risk rank


@pytest.fixture
def ranked(api, monkeypatch):
    """The login function with SIGNUP_RISK_CHECK on and sign-ups above rank 2 refused."""

    def rank_sign_ups(max_rank: int = 2) -> None:
        module = api.module(*api.function("LoginFunction"))
        settings = dataclasses.replace(module.settings, signup_risk_check=True, signup_max_risk_rank=max_rank)
        rewire(monkeypatch, module, "LoginFunction", settings=settings)

    return rank_sign_ups


def test_off_by_default_no_rank_is_asked_and_me_shows_none(api, wechat):
    me = _log_in(api, wechat, "fay")
    assert api.get("/v1/me", token=me["token"]).body["riskRank"] is None
    assert wechat.stats()["getuserriskrank"] == 0


def test_a_new_user_is_ranked_once_and_me_shows_the_rank(api, aws, wechat, ranked):
    ranked()
    code = wechat.login_code("gus")
    wechat.risk_rank("gus", rank=1)
    me = api.post(LOGIN, {"code": code}, source_ip="198.51.100.23").body
    assert me["isNewUser"]
    assert api.get("/v1/me", token=me["token"]).body["riskRank"] == 1
    assert _user_item(aws)["riskRank"] == {"N": "1"}
    assert "198.51.100.23" not in str(aws.items())  # sent to WeChat, kept nowhere
    _log_in(api, wechat, "gus")
    assert wechat.stats()["getuserriskrank"] == 1  # new users only


def test_a_sign_up_above_the_configured_rank_is_refused_and_nothing_is_stored(api, aws, wechat, ranked):
    ranked(max_rank=2)
    code = wechat.login_code("hal")
    wechat.risk_rank("hal", rank=3)
    refused = api.post(LOGIN, {"code": code})
    assert refused.status == 403
    assert refused.body == {"error": {"code": "signup_refused", "message": "This WeChat user cannot sign up now."}}
    assert [item for item in aws.items() if item["pk"]["S"].startswith("USER#")] == []


def test_wechats_error_for_a_user_not_seen_recently_never_fails_the_login(api, wechat, ranked):
    ranked(max_rank=0)
    code = wechat.login_code("ivy")
    # A user WeChat has not seen lately (the simulator's own rule needs two hours without a login).
    wechat.fault(errcode=61010, paths=["/wxa/getuserriskrank"])
    me = api.post(LOGIN, {"code": code})
    assert me.status == 200 and me.body["isNewUser"]
    assert api.get("/v1/me", token=me.body["token"]).body["riskRank"] is None
    assert wechat.stats()["getuserriskrank"] == 1
