"""Sealed values at rest as an attacker with write access to the table would move them: onto another item,
back onto an item made anew after an erasure. Each failed on the code it was written against (500, or the
written-back value opened); now a value that does not open is the contract's stale-session answer."""

from __future__ import annotations

from tests.support.values import OPENID, SESSION_KEY
from wxlogin.keys.tokens import user_id_for
from wxlogin.storage.users import user_pk

DECRYPT, PHONE = "/v1/profile/decrypt", "/v1/profile/phone"
OTHER_KEY = "ZmZmZmZmZmZmZmZmZmZmZg=="
THIEF = "oThief0000000000000000000000"


def _user_item(aws, openid: str) -> dict:
    pk = user_pk(user_id_for("wx0123456789abcdef", openid))
    return next(item for item in aws.items() if (item["pk"]["S"], item["sk"]["S"]) == (pk, "USER"))


def _set(aws, item: dict, name: str, value: dict) -> None:
    aws.dynamodb.update_item(
        TableName=aws.table,
        Key={"pk": item["pk"], "sk": item["sk"]},
        UpdateExpression="SET #n = :v",
        ExpressionAttributeNames={"#n": name},
        ExpressionAttributeValues={":v": value},
    )


def _stale(answer) -> None:
    assert answer.status == 422, answer.body
    assert answer.body["error"]["code"] == "invalid_encrypted_data"


def test_a_sealed_session_key_moved_to_another_item_is_the_stale_session_answer_not_500(api, aws, wechat, login):
    login(openid=OPENID, session_key=SESSION_KEY)
    thief = login(openid=THIEF, session_key=OTHER_KEY)
    _set(aws, _user_item(aws, THIEF), "sessionKey", _user_item(aws, OPENID)["sessionKey"])
    before = aws.items()
    profile = wechat.user_data(THIEF, session_key=SESSION_KEY, profile={"nickName": "Opened"})
    _stale(api.post(DECRYPT, profile, token=thief.token))
    phone = wechat.user_data(THIEF, session_key=SESSION_KEY, kind="phone")
    _stale(api.post(PHONE, {"encryptedData": phone["encryptedData"], "iv": phone["iv"]}, token=thief.token))
    assert aws.items() == before
    # Logging in again seals a fresh session_key: the client's way out of a 422.
    again = login(openid=THIEF, session_key=OTHER_KEY)
    assert api.post(DECRYPT, wechat.user_data(THIEF, session_key=OTHER_KEY), token=again.token).status == 200


def test_a_sealed_session_key_written_back_after_an_erasure_does_not_open(api, aws, wechat, login):
    first = login(openid=OPENID, session_key=SESSION_KEY)
    sealed_before = _user_item(aws, OPENID)["sessionKey"]
    assert api.delete("/v1/me", token=first.token).status == 204
    again = login(openid=OPENID, session_key=OTHER_KEY)
    assert again.answer.body["isNewUser"] is True
    # A backup's value restored onto the new account's item: same item key, another generation.
    _set(aws, _user_item(aws, OPENID), "sessionKey", sealed_before)
    before = aws.items()
    data = wechat.user_data(OPENID, session_key=SESSION_KEY, profile={"nickName": "FromBefore"})
    _stale(api.post(DECRYPT, data, token=again.token))
    assert aws.items() == before


def test_a_wechat_access_token_that_does_not_open_is_fetched_again_not_500(api, aws, wechat, login):
    me = login()
    assert api.post(PHONE, {"code": wechat.phone_code(OPENID)}, token=me.token).status == 200
    [app_item] = [item for item in aws.items() if "accessToken" in item]
    # A sealed value of another item (the user's session_key) put where the app's token was.
    _set(aws, app_item, "accessToken", _user_item(aws, OPENID)["sessionKey"])
    api.clear_secret_caches()  # a fresh instance: it reads the token from the table
    calls = wechat.stats()["stable_token"]
    answer = api.post(PHONE, {"code": wechat.phone_code(OPENID, phone="13700000002")}, token=me.token)
    assert answer.status == 200, answer.body
    assert answer.body["purePhoneNumber"] == "13700000002"
    assert wechat.stats()["stable_token"] == calls + 1
    [app_item] = [item for item in aws.items() if "accessToken" in item]
    assert aws.access_token_of(app_item)  # sealed anew, for its own item
