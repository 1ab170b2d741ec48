"""What the in-process suites drive: the functions as API Gateway calls them, moto, the WeChat simulator.

The fixtures that build these (tests/conftest.py) are shared by the integration and hardening
suites; the classes live here so the unit suite never imports moto, boto3 or the simulator.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import requests

from local.http_events import LambdaContext, http_api_event
from local.template import function_routes, function_timeout, load_template
from tests.support.values import APP_SECRET, APPID
from wxlogin.keys.appsecrets import AppSecrets
from wxlogin.keys.serverkeys import ServerKeys
from wxlogin.keys.tokens import parse_token
from wxlogin.services.account import AccountService
from wxlogin.services.auth import Authenticator
from wxlogin.services.login import LoginService
from wxlogin.services.phone import PhoneService
from wxlogin.services.profile import ProfileService
from wxlogin.services.session_keys import SessionKeyCheck, StoredSessionKeys
from wxlogin.services.signup_risk import SignUpRisk
from wxlogin.storage.access_token_store import ACCESS_TOKEN_GENERATION, AccessTokenStore
from wxlogin.storage.users import USER_SK, UserStore, session_item_key, user_pk
from wxlogin.wechat.access_token import AccessTokens

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")


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

    def wx_login_unseen(self, openid: str, session_key: str, appid: str = APPID, secret: str = APP_SECRET) -> None:
        """A wx.login whose code never reaches the server: WeChat now holds `session_key` for the user, and
        no longer the key the server has."""
        code = f"unseen-{os.urandom(8).hex()}"
        self.register(code, openid, session_key, appid=appid)
        params = {"appid": appid, "secret": secret, "js_code": code, "grant_type": "authorization_code"}
        assert "openid" in requests.get(self.base_url + "/sns/jscode2session", params=params, timeout=5).json()

    def risk_rank(self, user: str, appid: str = APPID, **change) -> None:
        """What getuserriskrank answers for the user /_sim/login names `user` (rank, seen_seconds_ago)."""
        from local.wechat_simulator import _b64url_id

        self._post("/_sim/risk-rank", {"appid": appid, "openid": _b64url_id(f"{appid}\n{user}"), **change})

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

    def function(self, logical_id: str) -> tuple[str, str]:
        """(logical id, code uri) of a function of the template, as `module` takes them."""
        return next(route for route in self.routes.values() if route[0] == logical_id)

    def clear_secret_caches(self) -> None:
        """Each test starts as a fresh instance would: no secret or access token kept by an earlier one."""
        for module in self.modules.values():
            if hasattr(module, "app_secrets"):
                module.app_secrets.clear_cache()
            if hasattr(module, "access_tokens"):
                module.access_tokens.clear_cache()
            if hasattr(module, "secrets"):
                module.secrets.clear_cache()

    def call(
        self,
        method: str,
        path: str,
        json_body=None,
        body=None,
        token=None,
        headers=None,
        source_ip="127.0.0.1",
        timeout: float | None = None,
    ) -> Answer:
        """The function's answer to the request, invoked as Lambda would with `timeout` seconds left (the
        function's Timeout in template.yaml unless given)."""
        headers = dict(headers or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if json_body is not None:
            body = json.dumps(json_body)
            headers.setdefault("Content-Type", "application/json")
        path, _, query = path.partition("?")
        logical_id, code_uri = self.routes[(method, path)]
        event = http_api_event(method, path, headers=headers, body=body, query=query, source_ip=source_ip)
        timeout = function_timeout(TEMPLATE, logical_id) if timeout is None else timeout
        context = LambdaContext.starting_now(timeout, function_name=logical_id)
        result = self.module(logical_id, code_uri).lambda_handler(event, context)
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


@dataclass
class Aws:
    dynamodb: object
    secrets: object
    table: str

    def items(self) -> list[dict]:
        return self.dynamodb.scan(TableName=self.table, ConsistentRead=True)["Items"]

    def sessions(self) -> list[dict]:
        """Every session item (a keyed login's failed record among them)."""
        return [item for item in self.items() if item["pk"]["S"].startswith("SESSION#")]

    def session_of(self, token: str) -> dict | None:
        """The session item a token names (the token carries its login's id, keys/tokens.py), if there is one."""
        key = session_item_key(parse_token(token).session_id)
        return self.dynamodb.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")

    def user_of(self, token: str) -> dict | None:
        """The user item a token names, if there is one."""
        key = {"pk": {"S": user_pk(parse_token(token).user_id)}, "sk": {"S": USER_SK}}
        return self.dynamodb.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")

    def set_apps(self, apps: dict) -> None:
        self.secrets.put_secret_value(SecretId=os.environ["APP_SECRETS_ID"], SecretString=json.dumps(apps))

    def keys(self) -> ServerKeys:
        """The deployment's keys, read from the secret as the functions read them."""
        secret = self.secrets.get_secret_value(SecretId=os.environ["DATA_KEYS_SECRET_ID"])["SecretString"]
        return ServerKeys(lambda: json.loads(secret))

    def session_key_of(self, user_item: dict) -> str:
        """The session_key a user item holds, opened as the profile function opens it."""
        return self.keys().open_text(
            "session_key", user_item["pk"]["S"], user_item["gen"]["S"], user_item["sessionKey"]["B"]
        )

    def access_token_of(self, item: dict) -> str:
        """The WeChat access_token an `APP#<appid>` item holds, opened as the profile function opens it."""
        return self.keys().open_text("access_token", item["pk"]["S"], ACCESS_TOKEN_GENERATION, item["accessToken"]["B"])

    def signing_keys(self) -> dict:
        return json.loads(self.secrets.get_secret_value(SecretId=os.environ["SIGNING_KEYS_ID"])["SecretString"])

    def set_signing_keys(self, document: dict) -> None:
        """The key set, and its public halves in the published-keys secret, as an operator's rotation puts them."""
        from scripts import signing_keys

        self.secrets.put_secret_value(SecretId=os.environ["SIGNING_KEYS_ID"], SecretString=json.dumps(document))
        published = json.dumps(signing_keys.publish(document)) if document else "{}"
        self.secrets.put_secret_value(SecretId=os.environ["PUBLISHED_KEYS_ID"], SecretString=published)


_SIGNING_KEY_SETS: list[dict] = []


def signing_key_set() -> dict:
    """One RS256 key set for the session: a 2048-bit key takes a noticeable moment to make."""
    if not _SIGNING_KEY_SETS:
        from scripts import signing_keys

        _SIGNING_KEY_SETS.append(signing_keys.new_key_set())
    return _SIGNING_KEY_SETS[0]


@dataclass
class LoggedIn:
    token: str
    openid: str
    session_key: str
    answer: Answer


def assert_session_ended(item: dict | None, now: float, erased: bool = False) -> None:
    """A session ended by logout or erasure (users.py): still there for a retry of its login to find, expired,
    its sealed answer gone; after an erasure also nothing that ties it to the user (uid, gen)."""
    assert item is not None, "an ended session stays until its TTL, so a retry of its login is refused at once"
    assert int(item["expiresAt"]["N"]) <= now and int(item["endedAt"]["N"]) <= now, item
    assert "sealed" not in item
    if erased:
        assert not {"uid", "gen"} & set(item), item


def rewire(monkeypatch, module, logical_id: str, dynamodb=None, secrets_provider=None, settings=None, **login) -> None:
    """Give a loaded function services built as its app.py builds them, on another DynamoDB client or
    SecretsProvider (a stubbed or unreachable one), other settings or (login) another clock and sleep,
    through the constructors' own parameters."""
    settings = settings or module.settings
    table = settings.table_name
    store = UserStore(table, client=dynamodb)
    app_secrets = AppSecrets.from_settings(settings, provider=secrets_provider) if secrets_provider else None
    keys = ServerKeys.from_settings(settings, provider=secrets_provider) if secrets_provider else None
    if logical_id == "LoginFunction":
        wechat, keys = module.service.wechat, keys or module.keys
        replaced = {
            "service": LoginService(
                settings,
                store,
                app_secrets or module.app_secrets,
                wechat,
                keys,
                **{"risk": SignUpRisk.from_settings(settings, store, wechat, app_secrets or module.app_secrets, keys)}
                | login,
            ),
        }
    elif logical_id == "RefreshFunction":
        replaced = {"auth": Authenticator(store)}
    elif logical_id == "AccountFunction":
        replaced = {"auth": Authenticator(store), "service": AccountService(store)}
    else:
        app_secrets, keys = app_secrets or module.app_secrets, keys or module.keys
        tokens = AccessTokens(AccessTokenStore(table, keys, client=dynamodb), module.wechat, app_secrets)
        check = SessionKeyCheck(store, tokens, module.wechat, settings.session_key_check_interval_seconds)
        session_keys = StoredSessionKeys(keys, check)
        replaced = {
            "auth": Authenticator(store),
            "service": ProfileService(store, session_keys, settings.watermark_max_age_seconds),
            "phone": PhoneService(store, tokens, module.wechat, session_keys, settings.watermark_max_age_seconds),
        }
    for name, value in replaced.items():
        monkeypatch.setattr(module, name, value)
