"""AWS faults: DynamoDB throttled or a secret missing gets the contract's 5xx, stores nothing, logs once."""

from __future__ import annotations

import json
import logging
import os
import socket

import boto3
import pytest
from botocore.stub import Stubber

from tests.support.inprocess import rewire
from tests.support.values import APP_SECRET


def _throttled_client(*stubs):
    client = boto3.client("dynamodb")
    stubber = Stubber(client)
    for operation, error in stubs:
        if error is None:
            stubber.add_response(operation, {})
        else:
            stubber.add_client_error(operation, **error)
    stubber.activate()
    if "get_item" not in {operation for operation, _ in stubs}:
        client.get_item = boto3.client("dynamodb").get_item  # the login's read of the user's generation lands
    return client


THROTTLED = {"service_error_code": "ProvisionedThroughputExceededException", "http_status_code": 400}


def _rewire(monkeypatch, api, logical_id: str, **clients) -> None:
    rewire(monkeypatch, api.module(*api.function(logical_id)), logical_id, **clients)


def _one_error_line_with_request_id(logs) -> dict:
    errors = logs.at_least(logging.ERROR)
    assert len(errors) == 1, errors
    line = json.loads(errors[0])
    assert line["function_request_id"] and line["correlation_id"]
    return line


def test_throttled_user_read_at_login_is_503_and_stores_nothing(api, aws, wechat, monkeypatch, logs):
    _rewire(monkeypatch, api, "LoginFunction", dynamodb=_throttled_client(("get_item", THROTTLED)))
    answer = api.post("/v1/auth/login", {"code": wechat.login_code()})
    assert answer.status == 503 and answer.body["error"]["code"] == "service_unavailable"
    assert aws.items() == []
    _one_error_line_with_request_id(logs)


def test_throttled_user_write_at_login_is_503_and_stores_nothing(api, aws, wechat, monkeypatch, logs):
    _rewire(monkeypatch, api, "LoginFunction", dynamodb=_throttled_client(("update_item", THROTTLED)))
    answer = api.post("/v1/auth/login", {"code": wechat.login_code()})
    assert answer.status == 503 and answer.body["error"]["code"] == "service_unavailable"
    assert aws.items() == []
    line = _one_error_line_with_request_id(logs)
    assert line["error_type"] == "ServiceUnavailable"


def test_throttled_session_write_at_login_is_503_and_leaves_no_session(api, aws, wechat, monkeypatch, logs):
    """The user write landed, the session's did not: the client has no token, nothing it could use."""
    client = _throttled_client(("put_item", THROTTLED))
    monkeypatch.setattr(client, "update_item", boto3.client("dynamodb").update_item)  # this write lands
    _rewire(monkeypatch, api, "LoginFunction", dynamodb=client)
    answer = api.post("/v1/auth/login", {"code": wechat.login_code()})
    assert answer.status == 503 and answer.body["error"]["code"] == "service_unavailable"
    assert "token" not in answer.text
    assert [item["sk"]["S"] for item in aws.items()] == ["USER"]
    _one_error_line_with_request_id(logs)


def test_throttled_token_check_is_503_not_401(api, aws, login, monkeypatch, logs):
    me = login()
    stored = aws.items()
    _rewire(monkeypatch, api, "AccountFunction", dynamodb=_throttled_client(("batch_get_item", THROTTLED)))
    answer = api.patch("/v1/me", {"nickName": "Never"}, token=me.token)
    # A throttled read must not look like a bad token: the client would throw its session away.
    assert answer.status == 503 and answer.body["error"]["code"] == "service_unavailable"
    assert aws.items() == stored
    _one_error_line_with_request_id(logs)


@pytest.mark.parametrize(
    "secret, value",
    [
        ("APP_SECRETS_ID", None),
        ("APP_SECRETS_ID", "{"),
        ("APP_SECRETS_ID", "{}"),
        ("DATA_KEYS_SECRET_ID", None),
        ("DATA_KEYS_SECRET_ID", json.dumps({"k1": "x" * 64})),  # no current key
        ("DATA_KEYS_SECRET_ID", json.dumps({"current": "k1", "k1": "short"})),
    ],
)
def test_a_missing_or_broken_secret_is_500_and_stores_nothing(api, aws, wechat, logs, secret, value):
    name = os.environ[secret]
    if value is None:
        aws.secrets.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    else:
        aws.secrets.put_secret_value(SecretId=name, SecretString=value)
    api.clear_secret_caches()
    answer = api.post("/v1/auth/login", {"code": wechat.login_code()})
    assert answer.status == 500 and answer.body["error"]["code"] == "internal_error"
    assert APP_SECRET not in answer.text and aws.items() == []
    # WeChat is never asked, so the code is not spent: the login's id (its session's key) is a keyed hash of the
    # code under the data keys, made before the exchange.
    assert wechat.stats()["jscode2session"] == 0
    line = _one_error_line_with_request_id(logs)
    assert line["error_type"] in ("SecretUnavailable", "KeysUnavailable")


def test_secrets_manager_access_denied_is_500_and_stores_nothing(api, aws, wechat, monkeypatch, logs):
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    client = boto3.client("secretsmanager")
    stubber = Stubber(client)
    stubber.add_client_error("get_secret_value", service_error_code="AccessDeniedException", http_status_code=400)
    stubber.activate()
    _rewire(monkeypatch, api, "LoginFunction", secrets_provider=SecretsProvider(boto3_client=client))
    answer = api.post("/v1/auth/login", {"code": wechat.login_code()})
    assert answer.status == 500 and answer.body["error"]["code"] == "internal_error"
    assert aws.items() == [] and wechat.stats()["jscode2session"] == 0
    assert _one_error_line_with_request_id(logs)["error_type"] == "SecretUnavailable"


def test_an_unreachable_dynamodb_endpoint_is_503(api, aws, wechat, monkeypatch, logs):
    from botocore.config import Config

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    unreachable = boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{port}",
        config=Config(connect_timeout=0.2, read_timeout=0.2, retries={"mode": "standard", "max_attempts": 1}),
    )
    _rewire(monkeypatch, api, "LoginFunction", dynamodb=unreachable)
    answer = api.post("/v1/auth/login", {"code": wechat.login_code()})
    assert answer.status == 503 and answer.body["error"]["code"] == "service_unavailable"
    assert aws.items() == []
    assert _one_error_line_with_request_id(logs)["error_type"] == "ServiceUnavailable"


@pytest.mark.parametrize("fault", ["throttled", "unreachable"])
def test_secrets_manager_throttled_or_out_of_reach_is_503_and_stores_nothing(
    api, aws, wechat, monkeypatch, logs, fault
):
    """A passing fault of Secrets Manager is the contract's 503 (retry later), not a 500 for an operator."""
    from botocore.config import Config

    from wxlogin.keys.appsecrets import SecretsManagerProvider

    if fault == "throttled":
        client = boto3.client("secretsmanager")
        stubber = Stubber(client)
        for operation in ("batch_get_secret_value", "get_secret_value"):
            stubber.add_client_error(operation, service_error_code="ThrottlingException", http_status_code=400)
        stubber.activate()
    else:
        with socket.socket() as probe:  # a loopback port nobody listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        config = Config(connect_timeout=0.2, read_timeout=0.2, retries={"mode": "standard", "max_attempts": 1})
        client = boto3.client("secretsmanager", endpoint_url=f"http://127.0.0.1:{port}", config=config)
    _rewire(monkeypatch, api, "LoginFunction", secrets_provider=SecretsManagerProvider(client=client))
    answer = api.post("/v1/auth/login", {"code": wechat.login_code()})
    assert answer.status == 503 and answer.body["error"]["code"] == "service_unavailable", answer.body
    assert aws.items() == [] and wechat.stats()["jscode2session"] == 0
    assert _one_error_line_with_request_id(logs)["error_type"] == "ServiceUnavailable"
