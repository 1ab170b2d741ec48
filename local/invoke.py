"""One events/ sample through its function, without Docker: `make invoke EVENT=events/login-ok.json`.

    make invoke FUNCTION=LoginFunction EVENT=events/login-ok.json   (FUNCTION is optional: the template routes it)

The function runs as the local gateway runs it (local/worker.py: its own
process, the template's environment, a Lambda context) against the local
stack's AWS and WeChat: the running `make run` when one answers on MOTO_PORT
and WXSIM_PORT, else a moto server and a simulator started for this call on
free ports and stopped after it. First it seeds what the samples assume
(events/README.md): the sample code at the simulator, the sample user and the
session of the samples' bearer token in the table. It prints the handler's
result, the function's logs go to stderr.

WATERMARK_MAX_AGE_SECONDS is 0 unless set, because the samples' encryptedData
carries a fixed watermark time; any other variable of the template can be set
from the shell as for `make run`.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import sys
from pathlib import Path

import requests
from botocore.exceptions import BotoCoreError, ClientError

from local.stack import (
    DEV_APP_ID,
    LOCAL_AWS,
    LOCAL_TABLE,
    LocalStack,
    Ports,
    StartupError,
    Worker,
    local_refs,
    local_workers,
)
from local.template import function_routes, load_template
from local.worker import LAYER

ROOT = Path(__file__).resolve().parents[1]

# The state the samples were written against (events/README.md).
EVENT_CODE = "event-sample-code-0001"
EVENT_OPENID = "oEventSample00000000000000AB"
EVENT_SESSION_KEY = base64.b64encode(bytes(range(16, 32))).decode()
LOGIN_EVENT = ROOT / "events" / "login-ok.json"
TOKEN_EVENT = ROOT / "events" / "me-get-ok.json"
SESSION_EXPIRES_AT = 4102444800  # 2100-01-01: the samples' session never expires


class InvokeError(RuntimeError):
    """The call cannot be made; the message says why."""


def read_event(path: Path) -> dict:
    try:
        event = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvokeError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise InvokeError(f"{path} is not JSON: {exc}") from None
    if not isinstance(event, dict) or not isinstance(event.get("routeKey"), str):
        raise InvokeError(f"{path} is not an HTTP API event (it has no routeKey)")
    return event


def function_for(template: dict, event: dict, requested: str | None) -> str:
    """The function the template routes the event to; a requested one must be that one."""
    routed = {f"{method} {path}": logical_id for method, path, logical_id, _, _ in function_routes(template)}
    functions = sorted(set(routed.values()))
    if requested is not None and requested not in functions:
        raise InvokeError(f"FUNCTION={requested} is not a function of template.yaml ({', '.join(functions)})")
    target = routed.get(event["routeKey"])
    if target is None:
        raise InvokeError(f"template.yaml routes no function at {event['routeKey']}")
    if requested is not None and requested != target:
        raise InvokeError(f"{event['routeKey']} is routed to {target}, not {requested}")
    return target


class Backends:
    """The local stack's AWS (moto) and WeChat (simulator): a running `make run`'s, or our own for this call."""

    def __init__(self, environ):
        self.started: LocalStack | None = None
        ports = Ports.from_environ(environ)
        self.moto_url = f"http://127.0.0.1:{ports.moto}"
        self.wechat_url = f"http://127.0.0.1:{ports.wechat}"
        if not self._running():
            self.started = LocalStack(ports=Ports(0, 0, 0), quiet=True).start(warm=False)
            self.moto_url, self.wechat_url = self.started.moto_url, self.started.wechat.base_url

    def _running(self) -> bool:
        """True when the simulator lists its dev routes and moto holds the local table there."""
        try:
            listing = requests.get(self.wechat_url + "/_sim/", timeout=2)
            if listing.status_code != 200 or "routes" not in listing.json():
                return False
            self.dynamodb().describe_table(TableName=LOCAL_TABLE)
        except (requests.RequestException, ValueError, BotoCoreError, ClientError):
            return False
        return True

    def dynamodb(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "dynamodb",
            endpoint_url=self.moto_url,
            region_name=LOCAL_AWS["AWS_DEFAULT_REGION"],
            aws_access_key_id=LOCAL_AWS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_AWS["AWS_SECRET_ACCESS_KEY"],
            config=Config(retries={"max_attempts": 1}, connect_timeout=2),
        )

    def stop(self) -> None:
        if self.started is not None:
            self.started.stop()


def with_fresh_code(backends: Backends, event: dict) -> dict:
    """The login sample with a code of its own that the simulator exchanges for the sample user: a code logs
    in once (its session is kept under it), so each call gets a new one, as each wx.login does."""
    try:
        body = json.loads(event.get("body") or "{}")
    except ValueError:
        return event  # a sample of a body that is not JSON: sent as it is
    if not isinstance(body, dict) or body.get("code") != EVENT_CODE:
        return event
    code = f"{EVENT_CODE}-{secrets.token_hex(4)}"
    answer = requests.post(
        backends.wechat_url + "/_sim/sessions",
        json={"code": code, "openid": EVENT_OPENID, "session_key": EVENT_SESSION_KEY, "appid": DEV_APP_ID},
        timeout=5,
    )
    if answer.status_code != 200:
        raise InvokeError(f"the simulator refused the sample code: {answer.text}")
    return {**event, "body": json.dumps({**body, "code": code})}


def seed_sample_user(backends: Backends, workers: dict[str, Worker]) -> None:
    """The sample user (made by a real login of login-ok.json when missing) and the samples' session."""
    sys.path.append(str(LAYER))
    from wxlogin.keys.tokens import bearer_token

    ref = bearer_token(read_event(TOKEN_EVENT)["headers"]["authorization"])
    pk = {"S": f"USER#{ref.user_id}"}
    dynamodb = backends.dynamodb()
    if "Item" not in dynamodb.get_item(TableName=LOCAL_TABLE, Key={"pk": pk, "sk": {"S": "USER"}}):
        workers["LoginFunction"].warm()
        login = with_fresh_code(backends, read_event(LOGIN_EVENT))
        result = workers["LoginFunction"].invoke(login, {"function_name": "LoginFunction"})
        if not result or result.get("statusCode") != 200:
            raise InvokeError(f"seeding the sample user failed: {result}")
    # A session counts only under its user item's generation (wxlogin/auth.py).
    user = dynamodb.get_item(TableName=LOCAL_TABLE, Key={"pk": pk, "sk": {"S": "USER"}}, ConsistentRead=True)
    session = {
        "pk": {"S": f"SESSION#{ref.session_id}"},
        "sk": {"S": "SESSION"},
        "tokenHash": {"S": ref.token_hash},
        "expiresAt": {"N": str(SESSION_EXPIRES_AT)},
    }
    dynamodb.put_item(TableName=LOCAL_TABLE, Item={**session, "gen": user["Item"]["gen"]})


def invoke(event_path: Path, requested: str | None, environ) -> dict:
    """The handler's result for the event, after seeding the state the samples assume."""
    template = load_template(ROOT / "template.yaml")
    event = read_event(event_path)
    logical_id = function_for(template, event, requested)
    overrides = {"WATERMARK_MAX_AGE_SECONDS": "0", **environ}
    backends = Backends(environ)
    workers = local_workers(template, backends.moto_url, local_refs(backends.wechat_url), overrides)
    try:
        if event.get("routeKey") == "POST /v1/auth/login":
            event = with_fresh_code(backends, event)
        else:  # the others take the samples' session, or nothing
            seed_sample_user(backends, workers)
        workers[logical_id].warm()  # a setting the function refuses is reported here, as StartupError
        result = workers[logical_id].invoke(event, {"function_name": logical_id})
    finally:
        for worker in workers.values():
            worker.stop()
        backends.stop()
    if result is None:
        raise InvokeError(f"{logical_id} crashed or timed out (its error is above)")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make invoke", description=__doc__.splitlines()[0])
    parser.add_argument("event", type=Path, help="an events/ file (EVENT=)")
    parser.add_argument("--function", help="the template's logical id (FUNCTION=); must be the event's function")
    args = parser.parse_args(argv)
    try:
        result = invoke(args.event, args.function or None, dict(os.environ))
    except (InvokeError, StartupError) as exc:
        print(f"make invoke: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
