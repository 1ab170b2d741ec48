"""The functions, in process, against moto (table and secret made from template.yaml) and the WeChat simulator."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import requests
from moto import mock_aws

from local.http_events import LambdaContext, http_api_event
from local.template import function_routes, load_template, table_create_kwargs, ttl_attribute
from local.wechat_simulator import WeChatSimulator
from tests.conftest import APP_SECRET, APPID

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")


@pytest.fixture(scope="session")
def wechat():
    """One simulator for the session (the functions read WECHAT_API_BASE once, at import); reset per test."""
    simulator = WeChatSimulator(apps={APPID: APP_SECRET}, quiet=True)
    simulator.start()
    os.environ["WECHAT_API_BASE"] = simulator.base_url
    try:
        yield Sim(simulator.base_url)
    finally:
        simulator.stop()


class Sim:
    """The simulator's dev API, as a Mini Program developer would drive it."""

    def __init__(self, base_url: str):
        self.base_url = base_url

    def _post(self, path: str, body: dict) -> dict:
        answer = requests.post(self.base_url + path, json=body, timeout=5)
        answer.raise_for_status()
        return answer.json()

    def register(self, code: str, openid: str, session_key: str, unionid: str | None = None, appid: str = APPID):
        body = {"code": code, "openid": openid, "session_key": session_key, "appid": appid}
        if unionid:
            body["unionid"] = unionid
        return self._post("/_sim/sessions", body)

    def login_code(self, user: str = "alice", appid: str = APPID, unionid=None) -> str:
        body = {"appid": appid, "user": user}
        if unionid is not None:
            body["unionid"] = unionid
        return self._post("/_sim/login", body)["code"]

    def user_data(self, openid: str, appid: str = APPID, **extra) -> dict:
        return self._post("/_sim/user-data", {"appid": appid, "openid": openid, "kind": "profile", **extra})

    def phone_code(self, openid: str, appid: str = APPID, phone: str | None = None) -> str:
        body = {"appid": appid, "openid": openid, **({"phone": phone} if phone else {})}
        return self._post("/_sim/phone-code", body)["code"]

    def expire_access_tokens(self, appid: str = APPID) -> None:
        self._post("/_sim/tokens/expire", {"appid": appid})

    def fault(self, **fault) -> None:
        self._post("/_sim/faults", fault)

    def set_app(self, appid: str, secret: str) -> None:
        self._post("/_sim/apps", {"appid": appid, "secret": secret})

    def stats(self) -> dict:
        return requests.get(self.base_url + "/_sim/stats", timeout=5).json()["calls"]

    def reset(self) -> None:
        self._post("/_sim/reset", {})


def _load_function(name: str, code_uri: str):
    spec = importlib.util.spec_from_file_location(f"wxlogin_function_{name}", ROOT / code_uri / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class Answer:
    status: int
    body: dict | None
    headers: dict
    text: str


class Api:
    """Calls the handlers the way API Gateway would, routed by template.yaml's own routes."""

    def __init__(self):
        self.routes = {
            (method, path): (logical_id, code_uri)
            for method, path, logical_id, code_uri, _ in function_routes(TEMPLATE)
        }
        self.modules = {}
        self.answers: list[Answer] = []

    def module(self, logical_id: str, code_uri: str):
        if logical_id not in self.modules:
            self.modules[logical_id] = _load_function(logical_id, code_uri)
        return self.modules[logical_id]

    def call(self, method: str, path: str, json_body=None, body=None, token: str | None = None, headers=None) -> Answer:
        headers = dict(headers or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if json_body is not None:
            body = json.dumps(json_body)
            headers.setdefault("Content-Type", "application/json")
        path, _, query = path.partition("?")
        logical_id, code_uri = self.routes[(method, path)]
        event = http_api_event(method, path, headers=headers, body=body, query=query)
        result = self.module(logical_id, code_uri).lambda_handler(event, LambdaContext(function_name=logical_id))
        text = result.get("body") or ""
        answer = Answer(result["statusCode"], json.loads(text) if text else None, result.get("headers", {}), text)
        self.answers.append(answer)
        return answer

    def post(self, path, json_body=None, **kwargs) -> Answer:
        return self.call("POST", path, json_body=json_body, **kwargs)

    def get(self, path, **kwargs) -> Answer:
        return self.call("GET", path, **kwargs)

    def patch(self, path, json_body=None, **kwargs) -> Answer:
        return self.call("PATCH", path, json_body=json_body, **kwargs)

    def delete(self, path, **kwargs) -> Answer:
        return self.call("DELETE", path, **kwargs)


@pytest.fixture(scope="session")
def _handlers(wechat):
    return Api()


# moto's mock_aws routes every `requests` call through the `responses` library, which logs each
# passed-through URL (with secret= in it) at INFO. It exists only in tests, not in Lambda.
logging.getLogger("responses").setLevel(logging.WARNING)


@pytest.fixture
def aws():
    """moto with the table and the AppSecrets secret created as template.yaml declares them."""
    from wxlogin import access_token, appsecrets

    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        table = os.environ["TABLE_NAME"]
        dynamodb.create_table(TableName=table, **table_create_kwargs(TEMPLATE))
        dynamodb.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute(TEMPLATE)}
        )
        secrets = boto3.client("secretsmanager")
        secrets.create_secret(Name=os.environ["APP_SECRETS_ID"], SecretString=json.dumps({APPID: APP_SECRET}))
        appsecrets.clear_cache()
        access_token.clear_cache()  # each test is a fresh table, so a fresh set of instances
        yield Aws(dynamodb, secrets, table)
        appsecrets.clear_cache()
        access_token.clear_cache()


@dataclass
class Aws:
    dynamodb: object
    secrets: object
    table: str

    def items(self) -> list[dict]:
        return self.dynamodb.scan(TableName=self.table, ConsistentRead=True)["Items"]

    def set_apps(self, apps: dict) -> None:
        self.secrets.put_secret_value(SecretId=os.environ["APP_SECRETS_ID"], SecretString=json.dumps(apps))


@pytest.fixture
def api(_handlers, aws, wechat):
    wechat.reset()
    wechat.set_app(APPID, APP_SECRET)  # undo any rotation an earlier test made
    _handlers.answers.clear()
    return _handlers


SESSION_KEY = "AAECAwQFBgcICQoLDA0ODw=="  # base64 of bytes 0..15
OPENID = "oGZUI0egBJY1zhBYw2KhdUfwVJJE"


@dataclass
class LoggedIn:
    token: str
    openid: str
    session_key: str
    answer: Answer


@pytest.fixture
def login(api, wechat):
    """Log a user in through the real route with a code the simulator registered with fixed values."""
    counter = iter(range(10_000))

    def _login(openid=OPENID, session_key=SESSION_KEY, unionid=None, **body) -> LoggedIn:
        code = f"code{next(counter)}{openid[-6:]}"
        wechat.register(code, openid, session_key, unionid)
        answer = api.post("/v1/auth/login", {"code": code, **body})
        assert answer.status == 200, answer.body
        return LoggedIn(answer.body["token"], openid, session_key, answer)

    return _login
