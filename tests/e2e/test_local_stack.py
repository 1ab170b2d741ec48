"""The local stack (`make run`) on free ports, driven over real HTTP as a Mini Program would, then stopped."""

from __future__ import annotations

import io
import json
from pathlib import Path

import boto3
import pytest
import requests

from local.demo import Demo
from local.stack import DEV_APP_ID, LOCAL_SECRET_ID, LOCAL_TABLE, LocalStack, Ports, resolve_environment
from local.template import load_template

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stack():
    overrides = {"WECHAT_READ_TIMEOUT_SECONDS": "0.5", "WECHAT_CONNECT_TIMEOUT_SECONDS": "0.5"}
    with LocalStack(ports=Ports(0, 0, 0), overrides=overrides, quiet=True) as running:
        yield running


class Client:
    def __init__(self, stack: LocalStack):
        self.api, self.wechat = stack.api_url, stack.wechat.base_url
        self.dynamodb = boto3.client(
            "dynamodb",
            endpoint_url=stack.moto_url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def sim(self, path: str, body: dict) -> dict:
        answer = requests.post(self.wechat + path, json=body, timeout=5)
        answer.raise_for_status()
        return answer.json()

    def code(self, user: str, **extra) -> str:
        return self.sim("/_sim/login", {"appid": DEV_APP_ID, "user": user, **extra})["code"]

    def call(self, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.request(method, self.api + path, headers=headers, timeout=30, **kwargs)

    def login(self, code: str) -> requests.Response:
        return self.call("POST", "/v1/auth/login", json={"code": code})

    def items(self) -> list[dict]:
        """What the requests stored: not the audit entries and account ids the events function writes a moment
        after each change, from the table's stream (tests/e2e/test_operating.py checks those)."""
        items = self.dynamodb.scan(TableName=LOCAL_TABLE, ConsistentRead=True)["Items"]
        return [item for item in items if not item["pk"]["S"].startswith(("AUDIT#", "SUB#"))]


@pytest.fixture
def client(stack):
    requests.post(stack.wechat.base_url + "/_sim/reset", json={}, timeout=5).raise_for_status()
    return Client(stack)


def test_the_demo_walks_the_whole_flow(stack):
    out = io.StringIO()
    Demo(stack.api_url, stack.wechat.base_url, user="e2e-demo", out=out).run()
    lines = out.getvalue().splitlines()
    assert lines[-1] == "demo complete: the whole flow works"
    assert "GET /v1/me with the revoked token: 401" in lines[-2]
    assert not any(line.startswith("BAD") for line in lines)


def test_a_second_login_is_the_same_user(client):
    first = client.login(client.code("bob")).json()
    second = client.login(client.code("bob")).json()
    assert first["isNewUser"] is True and second["isNewUser"] is False
    assert first["openid"] == second["openid"] and first["token"] != second["token"]
    users = [item for item in client.items() if item["sk"]["S"] == "USER" and item["openid"]["S"] == first["openid"]]
    assert len(users) == 1


def test_a_unionid_from_decryption_is_a_claim_until_jscode2session_names_it(client):
    login = client.login(client.code("carol")).json()
    assert login["unionid"] is None
    data = client.sim(
        "/_sim/user-data",
        {"appid": DEV_APP_ID, "openid": login["openid"], "kind": "profile", "unionid": "oUnionCarol01"},
    )
    fields = {name: data[name] for name in ("encryptedData", "iv", "rawData", "signature")}
    decrypted = client.call("POST", "/v1/profile/decrypt", login["token"], json=fields).json()
    assert (decrypted["unionid"], decrypted["claimedUnionid"]) == (None, "oUnionCarol01")
    again = client.login(client.code("carol")).json()
    assert (again["unionid"], again["claimedUnionid"]) == (None, "oUnionCarol01")
    confirmed = client.login(client.code("carol", unionid="oUnionCarol01")).json()
    assert (confirmed["unionid"], confirmed["claimedUnionid"]) == ("oUnionCarol01", None)
    me = client.call("GET", "/v1/me", confirmed["token"]).json()
    assert (me["unionid"], me["claimedUnionid"]) == ("oUnionCarol01", None)


def test_a_used_code_is_refused(client):
    code = client.code("dave")
    assert client.login(code).status_code == 200
    stored = client.items()
    answer = client.login(code)
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "invalid_code"
    assert client.items() == stored


@pytest.mark.parametrize(
    ("fault", "status", "error"),
    [
        ({"errcode": 40029}, 401, "invalid_code"),
        ({"errcode": 40163}, 401, "invalid_code"),
        ({"errcode": 40226}, 403, "user_blocked"),
        ({"errcode": 45011}, 429, "rate_limited"),
        ({"errcode": -1, "count": 5}, 503, "wechat_unavailable"),
        ({"errcode": 40125}, 502, "wechat_error"),
        ({"errcode": 40013}, 502, "wechat_error"),
        ({"errcode": 61024}, 502, "wechat_error"),
        ({"mode": "hang", "seconds": 3}, 503, "wechat_unavailable"),
        ({"mode": "drop"}, 503, "wechat_unavailable"),
        ({"mode": "http500"}, 503, "wechat_unavailable"),
        ({"mode": "garbage"}, 502, "wechat_error"),
    ],
)
def test_each_wechat_fault_gets_the_contract_answer_and_stores_nothing(client, fault, status, error):
    code = client.code("erin")
    stored = client.items()
    client.sim("/_sim/faults", {"count": 1, **fault})
    answer = client.login(code)
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, error)
    assert set(answer.json()) == {"error"} and "Traceback" not in answer.text
    assert client.items() == stored


def test_a_busy_wechat_recovers_within_the_same_request(client):
    code = client.code("fay")
    client.sim("/_sim/faults", {"errcode": -1, "count": 2})
    assert client.login(code).status_code == 200


def test_a_rotated_app_secret_takes_effect_at_once(stack, client):
    secrets = boto3.client(
        "secretsmanager",
        endpoint_url=stack.moto_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    assert client.login(client.code("gus")).status_code == 200  # the old secret is now cached
    rotated = "f" * 32
    try:
        client.sim("/_sim/apps", {"appid": DEV_APP_ID, "secret": rotated})
        secrets.put_secret_value(SecretId=LOCAL_SECRET_ID, SecretString=json.dumps({DEV_APP_ID: rotated}))
        # WeChat answers 40125 to the cached secret; the function re-reads it once and succeeds.
        assert client.login(client.code("gus")).status_code == 200
    finally:
        client.sim("/_sim/apps", {"appid": DEV_APP_ID, "secret": stack.app_secret})
        secrets.put_secret_value(SecretId=LOCAL_SECRET_ID, SecretString=json.dumps({DEV_APP_ID: stack.app_secret}))
    # Rotated back: the function again holds a stale secret, and again recovers by re-reading it.
    assert client.login(client.code("gus")).status_code == 200


def test_bad_input_is_a_400_and_stores_nothing(client):
    stored = client.items()
    for body in ({"data": "not json"}, {"json": {}}, {"json": {"code": 7}}, {"json": {"code": "x" * 200}}):
        answer = client.call("POST", "/v1/auth/login", **body)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_request", body
    assert client.items() == stored


def test_routes_the_template_does_not_declare_are_404(client):
    assert client.call("GET", "/v1/auth/login").status_code == 404
    assert client.call("POST", "/v2/nothing").status_code == 404


def test_shell_overrides_reach_only_variables_the_template_declares():
    template = load_template(ROOT / "template.yaml")
    refs = {"Table": "t", "AppSecrets": "s", "DataKeys": "k", "WeChatApiBase": "http://127.0.0.1:1"}
    overrides = {"WATERMARK_MAX_AGE_SECONDS": "0", "UNRELATED": "x"}
    environment = resolve_environment(template, "ProfileFunction", refs, overrides)
    assert environment["WATERMARK_MAX_AGE_SECONDS"] == "0"
    assert environment["TABLE_NAME"] == "t" and environment["WECHAT_API_BASE"] == "http://127.0.0.1:1"
    assert environment["TOKEN_TTL_SECONDS"] == str(template["Parameters"]["TokenTtlSeconds"]["Default"])
    assert "UNRELATED" not in environment


def test_phone_number_by_button_code_and_by_legacy_data(client):
    login = client.login(client.code("hal")).json()
    code = client.sim("/_sim/phone-code", {"appid": DEV_APP_ID, "openid": login["openid"], "phone": "13911112222"})
    bound = client.call("POST", "/v1/profile/phone", login["token"], json={"code": code["code"]})
    assert bound.status_code == 200 and bound.json()["phoneNumber"] == "13911112222"
    again = client.call("POST", "/v1/profile/phone", login["token"], json={"code": code["code"]})
    assert again.status_code == 400 and again.json()["error"]["code"] == "invalid_request"
    data = client.sim("/_sim/user-data", {"appid": DEV_APP_ID, "openid": login["openid"], "kind": "phone"})
    legacy = client.call(
        "POST", "/v1/profile/phone", login["token"], json={"encryptedData": data["encryptedData"], "iv": data["iv"]}
    )
    assert legacy.status_code == 200
    assert client.call("GET", "/v1/me", login["token"]).json()["phone"] == legacy.json()
