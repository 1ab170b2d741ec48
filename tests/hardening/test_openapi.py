"""openapi.yaml is a valid OpenAPI 3.1 document that says what the handlers really do.

Every route is driven in process (moto + the WeChat simulator) through each status the document gives
it, and every answer must validate against the schema documented for its status; the routes must be
the template's, and the documented limits the layer's own.
"""

from __future__ import annotations

import dataclasses
import inspect
import os

import schemathesis
from botocore.stub import Stubber
from openapi_spec_validator import validate

from local.template import function_routes, load_template
from local.wechat_simulator import encrypt_user_data
from tests.hardening.conftest import OPENAPI_PATH, ROOT
from tests.support.inprocess import rewire
from tests.support.values import APPID, OPENID, SESSION_KEY
from wxlogin import errors, models
from wxlogin.keys import tokens
from wxlogin.services import user_fields, userdata
from wxlogin.web import parsing, route_requests

LOGIN, LOGOUT, DECRYPT, PHONE, ME = (
    "/v1/auth/login",
    "/v1/auth/logout",
    "/v1/profile/decrypt",
    "/v1/profile/phone",
    "/v1/me",
)
REFRESH = "/v1/auth/token"
DISCOVERY = ("/.well-known/jwks.json", "/.well-known/openid-configuration")
OTHER_KEY = "ZmZmZmZmZmZmZmZmZmZmZg=="
PHONE_PATH = "/wxa/business/getuserphonenumber"


def test_the_document_is_valid_openapi_and_schemathesis_loads_every_operation(contract):
    validate(contract.document)
    schema = schemathesis.openapi.from_path(OPENAPI_PATH)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} == contract.routes()


def test_the_routes_are_the_templates(contract):
    """wxlogin's HttpApi, that is: the example API behind the JWT authorizer is the developer's, not ours."""
    template = load_template(ROOT / "template.yaml")
    ours = {
        (event["Properties"]["Method"].upper(), event["Properties"]["Path"])
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in resource["Properties"]["Events"].values()
        if event["Properties"].get("ApiId") == {"Ref": "HttpApi"}
    }
    assert contract.routes() == ours
    assert ours < {(method, path) for method, path, *_ in function_routes(template)}


def test_the_error_codes_are_the_layers(contract):
    classes = [cls for _, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, errors.WxLoginError)]
    documented = contract.document["components"]["schemas"]["ErrorCode"]["enum"]
    assert sorted(documented) == sorted({cls.code for cls in classes})
    # Each documented error response names the codes of its status and no other.
    for response in contract.document["components"]["responses"].values():
        if "content" not in response:
            continue
        ref = response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        code = contract.document["components"]["schemas"][ref]["allOf"][1]["properties"]["error"]["properties"]["code"]
        codes = code.get("enum", [code.get("const")])
        assert len({cls.status for cls in classes if cls.code in codes}) == 1, ref


def test_the_documented_limits_are_the_layers(contract):
    schemas = contract.document["components"]["schemas"]
    login = schemas["LoginRequest"]["properties"]
    header = contract.document["paths"][LOGIN]["post"]["parameters"][0]
    patch = schemas["MePatch"]["properties"]
    assert login["code"]["pattern"] == parsing.CODE_PATTERN.pattern
    assert schemas["PhoneRequest"]["oneOf"][0]["properties"]["code"]["pattern"] == parsing.CODE_PATTERN.pattern
    assert login["appid"]["pattern"] == route_requests.APPID_PATTERN.pattern
    assert (header["name"], header["schema"]["pattern"]) == ("Idempotency-Key", parsing.IDEMPOTENCY_KEY_PATTERN.pattern)
    assert schemas["Token"]["pattern"] == tokens.TOKEN_PATTERN.pattern.replace("(", "").replace(")", "")
    assert schemas["EncryptedData"]["maxLength"] == schemas["RawData"]["maxLength"] == parsing.MAX_BODY_BYTES
    assert patch["nickName"]["maxLength"] == user_fields.MAX_NICKNAME_LENGTH
    assert patch["avatarUrl"]["maxLength"] == user_fields.MAX_AVATAR_URL_LENGTH
    assert tuple(schemas["Profile"]["properties"]) == models.PROFILE_FIELDS
    assert tuple(schemas["Phone"]["properties"]) == models.PHONE_FIELDS
    assert tuple(schemas["PhoneAnswer"]["properties"]) == models.PHONE_FIELDS
    longest = max(user_fields.MAX_NICKNAME_LENGTH, user_fields.MAX_AVATAR_URL_LENGTH, userdata.MAX_PLACE_LENGTH)
    assert schemas["ProfileValue"]["oneOf"][0]["maxLength"] == longest
    assert set(schemas["PhoneAnswer"]["required"]) == set(models.PHONE_FIELDS)


class Recorder:
    """Calls the in-process handlers and remembers which route each answer came from."""

    def __init__(self, api_fixture):
        self.api = api_fixture
        self.calls: list[tuple[str, str, object]] = []

    def call(self, method: str, path: str, **kwargs):
        answer = self.api.call(method, path, **kwargs)
        self.calls.append((method, path.partition("?")[0], answer))
        return answer

    def post(self, path, json_body=None, **kwargs):
        return self.call("POST", path, json_body=json_body, **kwargs)

    def check(self, contract, method: str, path: str) -> None:
        """Every answer validates against the document, and the route went through every documented status."""
        seen = set()
        for called_method, called_path, answer in self.calls:
            problems = contract.problems(called_method, called_path, answer.status, answer.headers, answer.text)
            assert not problems, (called_method, called_path, answer.status, answer.text, problems)
            if (called_method, called_path) == (method, path):
                seen.add(answer.status)
        assert seen == contract.statuses(method, path)


def _failing_client(operation: str, code: str):
    """A DynamoDB client whose next `operation` fails with `code` (a throttle is 503, anything unknown 500)."""
    import boto3

    client = boto3.client("dynamodb")
    stubber = Stubber(client)
    stubber.add_client_error(operation, service_error_code=code, http_status_code=400)
    stubber.activate()
    if operation not in ("get_item", "batch_get_item"):
        # The reads before a failing write land: the login's of the user's generation, the session's with its user.
        reads = boto3.client("dynamodb")
        client.get_item, client.batch_get_item = reads.get_item, reads.batch_get_item
    return client


def _with_failing_store(monkeypatch, api, logical_id: str, operation: str, call) -> list:
    module, answers = api.module(*api.function(logical_id)), []
    for code in ("ProvisionedThroughputExceededException", "ValidationException"):
        with monkeypatch.context() as patch:
            rewire(patch, module, logical_id, dynamodb=_failing_client(operation, code))
            answers.append(call())
    assert [a.status for a in answers] == [503, 500]
    return answers


def _blocked(aws, login, openid: str):
    """A user an operator blocked (the attributes the admin function sets), still holding its session token."""
    me = login(openid=openid)
    aws.dynamodb.update_item(
        TableName=aws.table,
        Key={"pk": {"S": f"USER#{tokens.user_id_for(APPID, openid)}"}, "sk": {"S": "USER"}},
        UpdateExpression="SET blockedAt = :at, blockedReason = :reason, blockedBy = :by",
        ExpressionAttributeValues={
            ":at": {"S": "2026-01-01T00:00:00Z"},
            ":reason": {"S": "abuse"},
            ":by": {"S": "arn:aws:iam::123456789012:user/operator"},
        },
    )
    return me


def test_every_login_answer_is_documented(api, aws, wechat, login, contract, monkeypatch):
    calls = Recorder(api)
    calls.post(LOGIN, {"code": wechat.login_code("plain")})
    key = {"Idempotency-Key": "openapi-key-Xq3vR8kLm2Np7sTu"}
    calls.post(LOGIN, {"code": wechat.login_code("united", unionid=True)}, headers=key)
    wechat.register("with-data", OPENID, SESSION_KEY)
    data = wechat.user_data(OPENID, session_key=SESSION_KEY)
    assert calls.post(LOGIN, {"code": "with-data", **data}).body["profile"]["nickName"]
    calls.call("POST", LOGIN, body="{not json", headers={"Content-Type": "application/json"})
    calls.post(LOGIN, {"code": "x", "appid": "wxunknown"})
    calls.post(LOGIN, {"code": "never-issued"})
    wechat.register("stale-data", OPENID, OTHER_KEY)
    calls.post(LOGIN, {"code": "stale-data", **data})
    for fault in ({"errcode": 40226}, {"errcode": 45011}, {"errcode": 40013}, {"errcode": -1, "count": 5}):
        wechat.fault(**({"count": 1} | fault))
        calls.post(LOGIN, {"code": wechat.login_code("faulty")})

    def dynamo_login():
        return calls.post(LOGIN, {"code": wechat.login_code("dynamo")})

    _with_failing_store(monkeypatch, api, "LoginFunction", "update_item", dynamo_login)
    with monkeypatch.context() as patch:
        module = api.module(*api.function("LoginFunction"))
        ranked = dataclasses.replace(module.settings, signup_risk_check=True, signup_max_risk_rank=0)
        rewire(patch, module, "LoginFunction", settings=ranked)
        code = wechat.login_code("risky")
        wechat.risk_rank("risky", rank=1)
        assert calls.post(LOGIN, {"code": code}).body["error"]["code"] == "signup_refused"
    calls.check(contract, "POST", LOGIN)


def test_every_logout_answer_is_documented(api, aws, login, contract, monkeypatch):
    calls = Recorder(api)
    calls.post(LOGOUT, token=login().token)
    calls.post(LOGOUT)
    # Logout lets its session in first: a blocked user is told so, as on every other route.
    assert calls.post(LOGOUT, token=_blocked(aws, login, "oBlockedLogout").token).status == 403
    token = login().token
    _with_failing_store(monkeypatch, api, "AccountFunction", "update_item", lambda: calls.post(LOGOUT, token=token))
    calls.check(contract, "POST", LOGOUT)


def test_every_decrypt_answer_is_documented(api, aws, wechat, login, contract, monkeypatch):
    calls = Recorder(api)
    me = login(unionid="oUnionDecrypt")
    data = wechat.user_data(OPENID, session_key=SESSION_KEY, unionid="oUnionDecrypt")
    assert calls.post(DECRYPT, data, token=me.token).status == 200
    encrypted, iv = encrypt_user_data(SESSION_KEY, {"openId": OPENID, "watermark": {"appid": APPID, "timestamp": 0}})
    calls.post(DECRYPT, {"encryptedData": encrypted, "iv": iv}, token=me.token)  # stale watermark
    calls.post(DECRYPT, {**data, "iv": "AAAA"}, token=me.token)
    calls.post(DECRYPT, data, token="not-a-token")
    calls.post(DECRYPT, data, token=_blocked(aws, login, "oBlockedDecrypt0000000000000").token)
    dropped = login(unionid="oUnionDecrypt")  # a fresh session: the check above spent the first one's
    wechat.wx_login_unseen(OPENID, OTHER_KEY)  # WeChat drops the key we hold, for data under the new one
    newer = wechat.user_data(OPENID, session_key=OTHER_KEY, unionid="oUnionDecrypt")
    assert calls.post(DECRYPT, newer, token=dropped.token).body["error"]["code"] == "session_key_expired"
    _with_failing_store(
        monkeypatch, api, "ProfileFunction", "batch_get_item", lambda: calls.post(DECRYPT, data, token=me.token)
    )
    calls.check(contract, "POST", DECRYPT)


def test_every_phone_answer_is_documented(api, aws, wechat, login, contract, monkeypatch):
    calls = Recorder(api)
    me = login()
    assert calls.post(PHONE, {"code": wechat.phone_code(OPENID, phone="+852 61234567")}, token=me.token).status == 200
    legacy = wechat.user_data(OPENID, session_key=SESSION_KEY, kind="phone", phone="13912345678")
    assert calls.post(PHONE, legacy, token=me.token).status == 200
    calls.post(PHONE, {"code": "never-issued"}, token=me.token)
    calls.post(PHONE, wechat.user_data(OPENID, session_key=OTHER_KEY, kind="phone"), token=me.token)
    dropped = login()
    wechat.wx_login_unseen(OPENID, OTHER_KEY)
    newer = wechat.user_data(OPENID, session_key=OTHER_KEY, kind="phone")
    assert calls.post(PHONE, newer, token=dropped.token).body["error"]["code"] == "session_key_expired"
    calls.post(PHONE, {"code": "abc"})
    for fault in ({"errcode": 40226}, {"errcode": 45011}, {"errcode": 61024}, {"errcode": -1, "count": 5}):
        wechat.fault(paths=[PHONE_PATH], **({"count": 1} | fault))
        calls.post(PHONE, {"code": wechat.phone_code(OPENID)}, token=me.token)
    _with_failing_store(
        monkeypatch,
        api,
        "ProfileFunction",
        "batch_get_item",
        lambda: calls.post(PHONE, {"code": "abc"}, token=me.token),
    )
    calls.check(contract, "POST", PHONE)


def test_every_me_answer_is_documented(api, aws, wechat, login, contract, monkeypatch):
    calls = Recorder(api)
    me = login(unionid="oUnionMe")
    calls.call(
        "PATCH", ME, json_body={"nickName": "小程序用户", "avatarUrl": "https://example.com/a.png"}, token=me.token
    )
    calls.post(PHONE, {"code": wechat.phone_code(OPENID)}, token=me.token)
    answer = calls.call("GET", ME + "?include=linkedApps", token=me.token)
    assert answer.body["profile"] and answer.body["phone"] and answer.body["linkedApps"] == []
    calls.call("GET", ME + "?include=everything", token=me.token)
    calls.call("GET", ME, token="nope")
    calls.call("PATCH", ME, json_body={"nickName": "\u0000"}, token=me.token)
    calls.call("PATCH", ME, json_body={"nickName": "Nobody"})
    calls.post(ME, {"avatarUrl": "https://example.com/b.png"}, token=me.token)
    calls.post(ME, {"avatarUrl": "http://example.com/b.png"}, token=me.token)
    calls.post(ME, {"nickName": "Nobody"})
    calls.call("DELETE", ME, token="nope")
    blocked = _blocked(aws, login, "oBlockedMe00000000000000000000").token
    for method in ("GET", "PATCH", "POST", "DELETE"):
        assert (
            calls.call(
                method, ME, token=blocked, **({"json_body": {"nickName": "x"}} if method in ("PATCH", "POST") else {})
            ).status
            == 403
        )
    update = {"json_body": {"nickName": "Never"}}
    for method, kwargs in (("GET", {}), ("PATCH", update), ("POST", update), ("DELETE", {})):
        _with_failing_store(
            monkeypatch,
            api,
            "AccountFunction",
            "batch_get_item",
            lambda m=method, k=kwargs: calls.call(m, ME, token=me.token, **k),
        )
    assert calls.call("DELETE", ME, token=me.token).status == 204
    calls.call("GET", ME, token=me.token)
    for method in ("GET", "PATCH", "POST", "DELETE"):
        calls.check(contract, method, ME)


def test_every_refresh_and_published_key_answer_is_documented(api, aws, login, contract, monkeypatch):
    calls = Recorder(api)
    me = login()
    assert calls.post(REFRESH, token=me.token).status == 200
    calls.post(REFRESH, token=me.answer.body["accessToken"])
    calls.post(REFRESH)
    assert calls.post(REFRESH, token=_blocked(aws, login, "oBlockedRefresh000000000000").token).status == 403
    _with_failing_store(
        monkeypatch, api, "RefreshFunction", "batch_get_item", lambda: calls.post(REFRESH, token=me.token)
    )
    for path in DISCOVERY:
        assert calls.call("GET", path).status == 200
    # A broken published-keys secret (a key without its public half).
    aws.secrets.put_secret_value(SecretId=os.environ["PUBLISHED_KEYS_ID"], SecretString='{"keys": [{"kid": "k"}]}')
    api.clear_secret_caches()
    for path in DISCOVERY:
        assert calls.call("GET", path).status == 500
    calls.check(contract, "POST", REFRESH)
    for path in DISCOVERY:
        calls.check(contract, "GET", path)
