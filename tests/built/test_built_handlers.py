"""The artifacts `sam build` made run the events/ samples, each handler in a fresh interpreter as Lambda runs it.

Each function's built folder and the built layer's `python/` are the only
wxlogin code on the path. The layer's native packages (cryptography, cffi) are
built for arm64, so those two alone come from the test environment; AWS is
moto in server mode and WeChat the simulator, reached as the template's
environment says.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import boto3
import pytest
import requests

from local.template import (
    function_environment,
    function_routes,
    generated_secret_string,
    load_template,
    table_create_kwargs,
)
from local.wechat_simulator import WeChatSimulator
from scripts import signing_keys
from tests.support.inprocess import signing_key_set
from tests.support.values import APP_SECRET, APPID
from tests.unit.test_signing import private_material

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / ".aws-sam" / "build"
TEMPLATE = load_template(ROOT / "template.yaml")

# The state the events/ samples were written against (events/README.md).
EVENT_OPENID = "oEventSample00000000000000AB"
EVENT_SESSION_KEY = base64.b64encode(bytes(range(16, 32))).decode()
EVENT_CODE = "event-sample-code-0001"
SIGNING_KEYS = signing_key_set()


RUNNER = r"""
import json, sys
events = json.loads(sys.stdin.read())
import app  # the built handler, from the function's build folder
from local_context import LambdaContext
results = []
for event in events:
    result = app.lambda_handler(event, LambdaContext())
    results.append({"statusCode": result["statusCode"], "body": result.get("body")})
print("RESULTS " + json.dumps(results))
"""


def _native_overlay(tmp: Path) -> Path:
    """A folder with the test environment's cryptography and cffi, put before the arm64 layer."""
    overlay = tmp / "native"
    overlay.mkdir()
    import cffi
    import cryptography

    for module in (cryptography, cffi):
        source = Path(module.__file__).parent
        (overlay / source.name).symlink_to(source)
    for backend in Path(cffi.__file__).parent.parent.glob("_cffi_backend*"):
        (overlay / backend.name).symlink_to(backend)
    (overlay / "local_context.py").write_text((ROOT / "local" / "http_events.py").read_text())
    return overlay


@pytest.fixture(scope="module")
def stack():
    from moto.server import ThreadedMotoServer

    assert (BUILD / "SharedLayer" / "python" / "wxlogin").is_dir(), "no build: run `make build` (make test builds)"

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    simulator = WeChatSimulator(apps={APPID: APP_SECRET}, quiet=True)
    simulator.start()
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    dynamodb = session.client("dynamodb", endpoint_url=endpoint)
    dynamodb.create_table(TableName="wxlogin-built", **table_create_kwargs(TEMPLATE))
    secrets = session.client("secretsmanager", endpoint_url=endpoint)
    secrets.create_secret(Name="wxlogin/built", SecretString=json.dumps({APPID: APP_SECRET}))
    secrets.create_secret(Name="wxlogin/built-data-keys", SecretString=generated_secret_string(TEMPLATE, "DataKeys"))
    secrets.create_secret(Name="wxlogin/built-signing-keys", SecretString=json.dumps(SIGNING_KEYS))
    published = json.dumps(signing_keys.publish(SIGNING_KEYS))
    secrets.create_secret(Name="wxlogin/built-published-keys", SecretString=published)
    requests.post(
        simulator.base_url + "/_sim/sessions",
        json={"code": EVENT_CODE, "openid": EVENT_OPENID, "session_key": EVENT_SESSION_KEY, "appid": APPID},
        timeout=5,
    ).raise_for_status()
    with tempfile.TemporaryDirectory() as tmp:
        yield {
            "endpoint": endpoint,
            "wechat": simulator.base_url,
            "tmp": Path(tmp),
            "overlay": _native_overlay(Path(tmp)),
        }
    simulator.stop()
    server.stop()


def _invoke(stack, logical_id: str, event_names: list, extra_env: dict | None = None) -> list[tuple[int, dict | None]]:
    """Run events (names of events/ files, or event dicts) through one built handler in a fresh interpreter."""
    env = {name: value for name, value in function_environment(TEMPLATE, logical_id).items() if isinstance(value, str)}
    env.update(
        {
            "PATH": os.environ["PATH"],
            "PYTHONDONTWRITEBYTECODE": "1",  # leave the build folders as sam build made them
            # The function's folder, then the layer (the native overlay first): Lambda's order.
            "PYTHONPATH": os.pathsep.join(
                [str(BUILD / logical_id), str(stack["overlay"]), str(BUILD / "SharedLayer" / "python")]
            ),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": stack["endpoint"],
            "TABLE_NAME": "wxlogin-built",
            "APP_SECRETS_ID": "wxlogin/built",
            "DATA_KEYS_SECRET_ID": "wxlogin/built-data-keys",
            "SIGNING_KEYS_ID": "wxlogin/built-signing-keys",
            "PUBLISHED_KEYS_ID": "wxlogin/built-published-keys",
            "WECHAT_API_BASE": stack["wechat"],
            "WATERMARK_MAX_AGE_SECONDS": "0",  # the samples carry a fixed watermark time
            "POWERTOOLS_TRACE_DISABLED": "true",
            **(extra_env or {}),
        }
    )
    events = [
        name if isinstance(name, dict) else json.loads((ROOT / "events" / f"{name}.json").read_text())
        for name in event_names
    ]
    proc = subprocess.run(  # noqa: S603 - our own interpreter running our own runner
        [sys.executable, "-c", RUNNER],
        input=json.dumps(events),
        capture_output=True,
        text=True,
        env=env,
        cwd=stack["tmp"],
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULTS "))
    return [(r["statusCode"], json.loads(r["body"]) if r["body"] else None) for r in json.loads(line[8:])]


def _seed_event_session(stack) -> None:
    """The events' bearer token, as a session of the user login-ok.json created (under its generation)."""
    from wxlogin.keys.tokens import bearer_token

    event = json.loads((ROOT / "events" / "me-get-ok.json").read_text())
    ref = bearer_token(event["headers"]["authorization"])
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=stack["endpoint"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    key = {"pk": {"S": f"USER#{ref.user_id}"}, "sk": {"S": "USER"}}
    user = dynamodb.get_item(TableName="wxlogin-built", Key=key, ConsistentRead=True)["Item"]
    # The session item the token names (its login id's digest), holding the token's hash (users.py).
    session = {"pk": {"S": f"SESSION#{ref.session_id}"}, "sk": {"S": "SESSION"}, "tokenHash": {"S": ref.token_hash}}
    dynamodb.put_item(TableName="wxlogin-built", Item={**session, "gen": user["gen"], "expiresAt": {"N": "4102444800"}})


def _statuses(results) -> list[int]:
    return [status for status, _ in results]


def test_every_event_is_routed_by_the_template():
    routes = {(method, path): logical_id for method, path, logical_id, _, _ in function_routes(TEMPLATE)}
    for path in sorted((ROOT / "events").glob("*.json")):
        event = json.loads(path.read_text())
        method, route = event["routeKey"].split(" ", 1)
        assert (method, route) in routes, path.name


def test_built_handlers_answer_the_samples(stack):
    login = _invoke(stack, "LoginFunction", ["login-ok", "login-bad-json", "login-missing-code", "login-invalid-code"])
    assert _statuses(login) == [200, 400, 400, 401]
    assert login[0][1]["openid"] == EVENT_OPENID and login[0][1]["isNewUser"] is True
    assert login[1][1]["error"]["code"] == "invalid_request" and login[3][1]["error"]["code"] == "invalid_code"
    _seed_event_session(stack)
    signing = _invoke(stack, "RefreshFunction", ["token-refresh-ok", "token-refresh-bad-token"])
    assert _statuses(signing) == [200, 401]
    published = _invoke(stack, "PublishedKeysFunction", ["jwks-ok", "discovery-ok"])
    assert _statuses(published) == [200, 200]
    assert published[0][1]["keys"][0]["kid"] == SIGNING_KEYS["signingKeyId"]
    assert published[1][1]["issuer"] == "https://abc123.execute-api.us-east-1.amazonaws.com"

    profile = _invoke(
        stack,
        "ProfileFunction",
        [
            "profile-decrypt-ok",
            "profile-decrypt-bad-signature",
            "profile-decrypt-bad-iv",
            "profile-decrypt-no-token",
            "profile-phone-legacy-ok",
            "profile-phone-bad-request",
        ],
    )
    assert _statuses(profile) == [200, 422, 400, 401, 200, 400]
    assert profile[4][1] == {"phoneNumber": "13800138000", "purePhoneNumber": "13800138000", "countryCode": "86"}
    assert profile[0][1]["profile"]["nickName"] == "Sample"

    account = _invoke(
        stack,
        "AccountFunction",
        [
            "me-get-ok",
            "me-get-no-token",
            "me-patch-ok",
            "me-patch-bad-avatar",
            "logout-bad-token",
            "logout-ok",
            "me-get-ok",
        ],
    )
    assert _statuses(account) == [200, 401, 200, 400, 401, 204, 401]
    assert account[0][1]["profile"]["nickName"] == "Sample" and account[2][1]["profile"]["nickName"] == "小程序用户"
    _seed_event_session(stack)
    assert _statuses(_invoke(stack, "AccountFunction", ["me-delete-ok", "me-get-ok"])) == [204, 401]


def test_traces_carry_no_secret(stack):
    """With tracing on, as in Lambda, every segment the X-Ray SDK emits is captured at a fake daemon and read."""
    from local.http_events import http_api_event

    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(0.5)
    tracing = {
        "XRAY_TRACING": "Active",
        "POWERTOOLS_TRACE_DISABLED": "false",
        "LAMBDA_TASK_ROOT": str(BUILD),
        "_X_AMZN_TRACE_ID": "Root=1-6742a1b0-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1",
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
        "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
    }
    code, session_key = "trace-scan-code-0001", base64.b64encode(b"trace-scan-key!!").decode()
    requests.post(
        stack["wechat"] + "/_sim/sessions",
        json={"code": code, "openid": "oTraceScan000000000000000001", "session_key": session_key, "appid": APPID},
        timeout=5,
    ).raise_for_status()
    headers = {"content-type": "application/json"}
    login = http_api_event("POST", "/v1/auth/login", headers=headers, body=json.dumps({"code": code}))
    [(status, answer)] = _invoke(stack, "LoginFunction", [login], tracing)
    assert status == 200, answer
    token = answer["token"]
    data = requests.post(
        stack["wechat"] + "/_sim/user-data",
        json={"appid": APPID, "openid": "oTraceScan000000000000000001", "kind": "profile"},
        timeout=5,
    ).json()
    decrypt = http_api_event(
        "POST", "/v1/profile/decrypt", headers={**headers, "authorization": f"Bearer {token}"}, body=json.dumps(data)
    )
    bad = http_api_event("GET", "/v1/me", headers={"authorization": f"Bearer {token}x"})
    refresh = http_api_event("POST", "/v1/auth/token", headers={"authorization": f"Bearer {token}"})
    [(status, refreshed)] = _invoke(stack, "RefreshFunction", [refresh], tracing)
    assert status == 200
    assert _statuses(_invoke(stack, "ProfileFunction", [decrypt], tracing)) == [200]
    assert _statuses(_invoke(stack, "AccountFunction", [bad], tracing)) == [401]

    segments = []
    while True:
        try:
            segments.append(daemon.recv(65536).decode())
        except TimeoutError:
            break
    daemon.close()
    traces = "\n".join(segments)
    assert "dynamodb" in traces and "## lambda_handler" in traces, "the scan must have seen the traces"
    for secret in (APP_SECRET, session_key, token, token.split(".")[1], code, *private_material(SIGNING_KEYS)):
        assert secret not in traces
    for access_token in (answer["accessToken"], refreshed["accessToken"]):
        assert access_token.split(".")[2] not in traces
