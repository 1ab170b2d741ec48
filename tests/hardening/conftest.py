"""Fixtures for the hardening tests: the contract as openapi.yaml states it, and the local stack.

The in-process fixtures (api, aws, wechat, login) are the shared ones of tests/conftest.py.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import requests
import yaml
from hypothesis import HealthCheck, settings
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from local.stack import DEV_APP_ID, LOCAL_DATA_KEYS_ID, LOCAL_TABLE, LocalStack, Ports
from wxlogin.keys.serverkeys import ServerKeys

# Per-example deadlines measure the machine, not the code, on a loaded 2-core CI runner.
settings.register_profile("wxlogin", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("wxlogin")

ROOT = Path(__file__).resolve().parents[2]
OPENAPI_PATH = ROOT / "openapi.yaml"
DOCUMENT_URI = "urn:wxlogin:openapi"


def _pointer(*parts: str) -> str:
    return "/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


class Contract:
    """openapi.yaml: its routes, and whether an answer is one it documents."""

    def __init__(self, path: Path = OPENAPI_PATH):
        self.document = yaml.safe_load(path.read_text(encoding="utf-8"))
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(DOCUMENT_URI, resource)
        self._validators: dict[str, Draft202012Validator] = {}

    def routes(self) -> set[tuple[str, str]]:
        return {(method.upper(), path) for path, item in self.document["paths"].items() for method in item}

    def statuses(self, method: str, path: str) -> set[int]:
        return {int(status) for status in self.document["paths"][path][method.lower()]["responses"]}

    def _response(self, method: str, path: str, status: int) -> tuple[dict, list[str]]:
        """The response object and the JSON pointer parts that lead to it, its $ref followed."""
        parts = ["paths", path, method.lower(), "responses", str(status)]
        response = self.document["paths"][path][method.lower()]["responses"][str(status)]
        if "$ref" in response:
            parts = response["$ref"].removeprefix("#/").split("/")
            response = self.document["components"]["responses"][parts[-1]]
        return response, parts

    def _validator(self, pointer: str) -> Draft202012Validator:
        if pointer not in self._validators:
            # A $ref into the whole document, so the schema's own "#/components/..." refs resolve.
            self._validators[pointer] = Draft202012Validator(
                {"$ref": f"{DOCUMENT_URI}#{pointer}"}, registry=self.registry
            )
        return self._validators[pointer]

    def body_problems(self, method: str, path: str, status: int, body) -> list[str]:
        """Why a parsed JSON body is not what the document gives for this status (empty when it is)."""
        response, parts = self._response(method, path, status)
        if "content" not in response:
            return [] if body is None else [f"{status} documents no body, got {body!r:.200}"]
        validator = self._validator(_pointer(*parts, "content", "application/json", "schema"))
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message:.300}" for e in validator.iter_errors(body)]

    def _cache_control(self, response: dict) -> str:
        """The Cache-Control the response documents; no-store when it names none (no-body answers)."""
        header = response.get("headers", {}).get("Cache-Control", {"$ref": "#/components/headers/CacheControl"})
        if "$ref" in header:
            header = self.document["components"]["headers"][header["$ref"].rsplit("/", 1)[-1]]
        return header["schema"]["const"]

    def problems(self, method: str, path: str, status: int, headers, text: str) -> list[str]:
        """Why an HTTP answer is not one the document gives for this route (empty when it is)."""
        if status not in self.statuses(method, path):
            return [f"status {status} is not documented for {method} {path}"]
        found = []
        lowered = {name.lower(): value for name, value in headers.items()}
        response, _ = self._response(method, path, status)
        cache_control = self._cache_control(response)
        if lowered.get("cache-control") != cache_control:
            found.append(f"Cache-Control is {lowered.get('cache-control')!r}, not {cache_control!r}")
        if "content" not in response:
            return found + ([f"{status} documents no body, got {text!r:.200}"] if text else [])
        if not lowered.get("content-type", "").startswith("application/json"):
            found.append(f"Content-Type is {lowered.get('content-type')!r}")
        try:
            body = json.loads(text)
        except ValueError:
            return [*found, f"the body is not JSON: {text!r:.200}"]
        return found + self.body_problems(method, path, status, body)


@pytest.fixture(scope="session")
def contract() -> Contract:
    return Contract()


@dataclass
class StackClient:
    """The local stack over real HTTP, and its table read directly from moto."""

    stack: LocalStack

    @property
    def api_url(self) -> str:
        return self.stack.api_url

    @property
    def sim(self) -> str:
        return self.stack.wechat.base_url

    def simulator(self, path: str, body: dict) -> dict:
        answer = requests.post(self.sim + path, json=body, timeout=10)
        answer.raise_for_status()
        return answer.json()

    def code(self, user: str) -> str:
        return self.simulator("/_sim/login", {"appid": DEV_APP_ID, "user": user})["code"]

    def log_in(self, user: str) -> dict:
        answer = requests.post(self.api_url + "/v1/auth/login", json={"code": self.code(user)}, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def dynamodb(self):
        return boto3.client(
            "dynamodb",
            endpoint_url=self.stack.moto_url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def keys(self) -> ServerKeys:
        """The stack's own keys, read from its generated secret."""
        secrets = boto3.client(
            "secretsmanager",
            endpoint_url=self.stack.moto_url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        value = json.loads(secrets.get_secret_value(SecretId=LOCAL_DATA_KEYS_ID)["SecretString"])
        return ServerKeys(lambda: value)

    def items(self) -> list[dict]:
        client, items, start = self.dynamodb(), [], None
        while True:
            page = client.scan(
                TableName=LOCAL_TABLE, ConsistentRead=True, **({"ExclusiveStartKey": start} if start else {})
            )
            items.extend(page["Items"])
            start = page.get("LastEvaluatedKey")
            if not start:
                # Not the audit entries and account ids the events function writes a moment after each change.
                return [item for item in items if not item["pk"]["S"].startswith(("AUDIT#", "SUB#"))]


@pytest.fixture(scope="module")
def stack():
    """The local stack on free ports, one per test module so each starts from an empty table."""
    from moto.dynamodb.responses import DynamoHandler
    from moto.moto_api._internal import moto_api_backend

    # moto's server logs a line per AWS call: tens of thousands of lines under the fuzz.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # moto's server handles requests on threads without a lock: concurrent TransactWriteItems fail inside
    # it ("dictionary changed size during iteration") and a conditional update is not atomic with a delete.
    # DynamoDB applies each request atomically; so does moto here, and what races is the functions' own logic.
    atomic = threading.Lock()
    call_action = DynamoHandler.call_action

    def one_at_a_time(handler):
        with atomic:
            return call_action(handler)

    overrides = {"WECHAT_READ_TIMEOUT_SECONDS": "2", "WECHAT_CONNECT_TIMEOUT_SECONDS": "1"}
    # moto's server keeps its state in this process's moto backends, which outlive a stopped server: an
    # earlier local stack (another module's) would have left its table behind.
    moto_api_backend.reset()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DynamoHandler, "call_action", one_at_a_time)
        stack = LocalStack(ports=Ports(0, 0, 0), overrides=overrides, quiet=True)
        # These suites drive the functions at full speed (the fuzz sends over 100 requests/s to a route); the
        # template's route throttles would answer part of that 429 before any function ran, so they are lifted.
        for resource in stack.template["Resources"].values():
            if resource["Type"] == "AWS::Serverless::HttpApi":
                resource["Properties"].pop("DefaultRouteSettings", None)
                resource["Properties"].pop("RouteSettings", None)
        with stack as running:
            yield StackClient(running)
    moto_api_backend.reset()
