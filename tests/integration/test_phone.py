"""POST /v1/profile/phone: both getPhoneNumber flows, and the shared WeChat access token behind the current one."""

from __future__ import annotations

import json
import logging
import threading
import time

import boto3
import pytest

from tests.support.values import APP_SECRET, APPID, OPENID

PHONE = "/v1/profile/phone"
ACCESS_TOKEN_KEY = {"pk": {"S": f"APP#{APPID}"}, "sk": {"S": "ACCESS_TOKEN"}}


def _stored_access_token(aws) -> dict | None:
    return aws.dynamodb.get_item(TableName=aws.table, Key=ACCESS_TOKEN_KEY, ConsistentRead=True).get("Item")


def test_phone_code_binds_the_number_and_me_shows_it(api, aws, wechat, login):
    me = login()
    answer = api.post(PHONE, {"code": wechat.phone_code(OPENID, phone="13912345678")}, token=me.token)
    assert answer.status == 200, answer.body
    assert answer.body == {"phoneNumber": "13912345678", "purePhoneNumber": "13912345678", "countryCode": "86"}
    assert api.get("/v1/me", token=me.token).body["phone"] == answer.body
    user = next(item for item in aws.items() if item["sk"]["S"] == "USER")
    assert user["phoneNumber"] == {"S": "13912345678"}
    assert wechat.stats()["stable_token"] == 1 and _stored_access_token(aws) is not None


def test_legacy_encrypted_phone_number_is_decrypted_with_the_session_key(api, aws, wechat, login):
    me = login()
    data = wechat.user_data(OPENID, kind="phone", phone="+852 61234567")
    answer = api.post(PHONE, {"encryptedData": data["encryptedData"], "iv": data["iv"]}, token=me.token)
    assert answer.status == 200, answer.body
    assert answer.body["purePhoneNumber"] == "61234567" and answer.body["countryCode"] == "852"
    assert wechat.stats()["stable_token"] == 0  # the legacy flow needs no access token


def test_legacy_phone_data_from_two_logins_ago_is_422(api, aws, wechat, login):
    me = login()
    stale = wechat.user_data(OPENID, kind="phone")
    login(session_key="ZmZmZmZmZmZmZmZmZmZmZg==")  # the grace window keeps the data's key...
    again = login(session_key="MDEyMzQ1Njc4OWFiY2RlZg==")  # ...until a later login replaces that one too
    answer = api.post(PHONE, {"encryptedData": stale["encryptedData"], "iv": stale["iv"]}, token=again.token)
    assert answer.status == 422 and answer.body["error"]["code"] == "invalid_encrypted_data"
    assert me.token != again.token


def test_a_phone_code_used_twice_is_400_and_keeps_the_first_number(api, aws, wechat, login):
    me = login()
    code = wechat.phone_code(OPENID, phone="13700000001")
    assert api.post(PHONE, {"code": code}, token=me.token).status == 200
    stored = aws.items()
    answer = api.post(PHONE, {"code": code}, token=me.token)
    assert answer.status == 400 and answer.body["error"]["code"] == "invalid_request"
    assert "tap the button again" in answer.body["error"]["message"]
    assert aws.items() == stored


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"code": ""},
        {"code": "bad code with spaces"},
        {"code": "abc", "encryptedData": "AAAA", "iv": "AAAAAAAAAAAAAAAAAAAAAA=="},
        {"encryptedData": "AAAA"},
    ],
)
def test_malformed_phone_requests_are_400(api, aws, wechat, login, body):
    me = login()
    stored = aws.items()
    answer = api.post(PHONE, body, token=me.token)
    assert answer.status == 400 and answer.body["error"]["code"] == "invalid_request"
    assert aws.items() == stored and wechat.stats()["getuserphonenumber"] == 0


def test_phone_needs_a_valid_token(api, aws, wechat):
    answer = api.post(PHONE, {"code": "abc"}, token="nope")
    assert answer.status == 401 and answer.body["error"]["code"] == "unauthorized"


def test_the_access_token_is_reused_until_it_nears_expiry(api, aws, wechat, login):
    me = login()
    for phone in ("13700000001", "13700000002", "13700000003"):
        assert api.post(PHONE, {"code": wechat.phone_code(OPENID, phone=phone)}, token=me.token).status == 200
    assert wechat.stats()["stable_token"] == 1


def test_a_warm_instance_uses_its_token_without_reading_the_table(api, aws, wechat, login, monkeypatch):
    me = login()
    assert api.post(PHONE, {"code": wechat.phone_code(OPENID)}, token=me.token).status == 200
    store = api.module(*api.function("ProfileFunction")).access_tokens.store
    reads = []
    monkeypatch.setattr(store, "get", lambda appid: reads.append(appid))
    answer = api.post(PHONE, {"code": wechat.phone_code(OPENID, phone="13700000009")}, token=me.token)
    assert answer.status == 200 and answer.body["phoneNumber"] == "13700000009"
    assert reads == [] and wechat.stats()["stable_token"] == 1


def test_an_access_token_wechat_rejects_is_refreshed_once_and_the_call_retried(api, aws, wechat, login):
    me = login()
    assert api.post(PHONE, {"code": wechat.phone_code(OPENID)}, token=me.token).status == 200
    before = aws.access_token_of(_stored_access_token(aws))
    wechat.expire_access_tokens()  # WeChat now answers 40001 to the cached token
    answer = api.post(PHONE, {"code": wechat.phone_code(OPENID)}, token=me.token)
    assert answer.status == 200, answer.body
    assert aws.access_token_of(_stored_access_token(aws)) != before
    assert wechat.stats()["getuserphonenumber"] == 3


def test_a_cached_token_past_its_expiry_is_replaced_before_use(api, aws, wechat, login):
    me = login()
    assert api.post(PHONE, {"code": wechat.phone_code(OPENID)}, token=me.token).status == 200
    aws.dynamodb.update_item(
        TableName=aws.table,
        Key=ACCESS_TOKEN_KEY,
        UpdateExpression="SET expiresAt = :e",
        ExpressionAttributeValues={":e": {"N": "1000"}},
    )
    api.module(*api.function("ProfileFunction")).access_tokens.clear_cache()  # a new instance reads the table
    assert api.post(PHONE, {"code": wechat.phone_code(OPENID)}, token=me.token).status == 200
    assert wechat.stats()["stable_token"] == 2 and wechat.stats()["getuserphonenumber"] == 2
    assert int(_stored_access_token(aws)["expiresAt"]["N"]) > 1000


def test_a_token_that_stays_rejected_is_502_after_one_refresh(api, aws, wechat, login):
    me = login()
    wechat.fault(errcode=40001, count=2, paths=["/wxa/business/getuserphonenumber"])
    answer = api.post(PHONE, {"code": wechat.phone_code(OPENID)}, token=me.token)
    assert answer.status == 502 and answer.body["error"]["code"] == "wechat_error"
    assert wechat.stats()["getuserphonenumber"] == 2


def test_phone_api_faults_map_to_the_contract(api, aws, wechat, login):
    me = login()
    for fault, status, code in (
        ({"errcode": 45011}, 429, "rate_limited"),
        ({"errcode": -1, "count": 5}, 503, "wechat_unavailable"),
        ({"mode": "hang", "seconds": 3}, 503, "wechat_unavailable"),
        ({"errcode": 40013}, 400, "invalid_request"),
    ):
        wechat.fault(paths=["/wxa/business/getuserphonenumber"], **({"count": 1} | fault))
        answer = api.post(PHONE, {"code": wechat.phone_code(OPENID)}, token=me.token)
        assert (answer.status, answer.body["error"]["code"]) == (status, code), fault
    assert api.get("/v1/me", token=me.token).body["phone"] is None


def test_concurrent_refreshes_cause_one_wechat_call(aws, wechat):
    from wxlogin.config import load_settings
    from wxlogin.keys.appsecrets import AppSecrets
    from wxlogin.keys.serverkeys import ServerKeys
    from wxlogin.storage.access_token_store import AccessTokenStore
    from wxlogin.wechat.access_token import AccessTokens
    from wxlogin.wechat.client import WeChatClient

    wechat.reset()
    settings = load_settings()
    # Each thread is its own "Lambda instance": its own clients, nothing shared but the table.
    # DynamoDB applies each conditional write atomically; moto's in-memory backend does not, so one lock
    # around each request gives the threads DynamoDB's semantics while they still race each other.
    barrier, atomic = threading.Barrier(12), threading.Lock()
    results, errors = [], []

    def instance():
        tokens = AccessTokens(
            AccessTokenStore(
                settings.table_name,
                ServerKeys.from_settings(settings),
                client=_Atomic(boto3.client("dynamodb"), atomic),
            ),
            WeChatClient.from_settings(settings),
            AppSecrets.from_settings(settings),
        )
        barrier.wait()
        try:
            results.append(tokens.get(APPID, time.time() + 10))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=instance) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors and len(results) == 12 and len(set(results)) == 1
    assert wechat.stats()["stable_token"] == 1


class _Atomic:
    def __init__(self, client, lock):
        self._client, self._lock = client, lock

    def __getattr__(self, operation):
        call = getattr(self._client, operation)

        def atomic(**kwargs):
            with self._lock:
                return call(**kwargs)

        return atomic


def test_access_tokens_never_reach_logs_or_answers(api, aws, wechat, login, logs, capsys):
    me = login()
    answers = [api.post(PHONE, {"code": wechat.phone_code(OPENID)}, token=me.token)]
    wechat.expire_access_tokens()
    answers.append(api.post(PHONE, {"code": wechat.phone_code(OPENID)}, token=me.token))
    logging.getLogger("wxlogin").debug("end of scan")
    token = aws.access_token_of(_stored_access_token(aws))
    out = capsys.readouterr()
    text = "\n".join(logs.lines) + out.out + out.err + "".join(answer.text for answer in answers)
    assert token not in text and APP_SECRET not in text
    assert all(answer.status == 200 for answer in answers)
    assert json.dumps(answers[0].body).count("phoneNumber") == 1


def test_a_cold_instance_reads_the_data_keys_and_the_appsecret_in_one_request(api, aws, wechat, login):
    """Its first phone number needs the data keys (the stored token is sealed) and the AppSecret (a new token)."""
    from wxlogin import aws as layer_aws

    me = login()
    api.clear_secret_caches()
    calls = []
    events = layer_aws.client("secretsmanager").meta.events
    events.register("before-call.secrets-manager", lambda model, **_: calls.append(model.name), unique_id="count")
    try:
        answer = api.post(PHONE, {"code": wechat.phone_code(OPENID)}, token=me.token)
    finally:
        events.unregister("before-call.secrets-manager", unique_id="count")
    assert answer.status == 200, answer.body
    assert calls == ["BatchGetSecretValue"] and wechat.stats()["stable_token"] == 1
