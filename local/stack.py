"""The whole system on one machine: `make run` (python -m local.stack).

- the HTTP API on 127.0.0.1:$PORT (3000), routed exactly as template.yaml declares,
  each function in its own worker process (local/worker.py) with the template's environment;
- DynamoDB and Secrets Manager from moto's server mode on 127.0.0.1:$MOTO_PORT (5000),
  the table made from template.yaml and the secret filled with $APP_ID / $APP_SECRET;
- the WeChat simulator on 127.0.0.1:$WXSIM_PORT (3001), reached through WECHAT_API_BASE.

No AWS account, no WeChat account, no Docker. Any variable of a function's
environment in the template can be overridden from the shell, e.g.
`WATERMARK_MAX_AGE_SECONDS=0 make run`. State lives in memory and is gone on exit.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from local.http_events import http_api_event
from local.template import (
    function_environment,
    function_routes,
    generated_secret_string,
    load_template,
    table_create_kwargs,
    ttl_attribute,
)
from local.wechat_simulator import DEV_APP_SECRET, WeChatSimulator
from local.wechat_simulator import DEV_APPID as DEV_APP_ID

ROOT = Path(__file__).resolve().parents[1]
LOG = logging.getLogger("wxlogin.local")

LOCAL_TABLE = "wxlogin-local"
LOCAL_SECRET_ID = "wxlogin/local/app-secrets"  # noqa: S105 - the name of a secret, not its value
LOCAL_DATA_KEYS_ID = "wxlogin/local/data-keys"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's own payload limit; the functions enforce 32 KiB themselves

# What the template's intrinsics resolve to here; parameters take their template defaults.
LOCAL_AWS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
}


@dataclass
class Ports:
    api: int = 3000
    moto: int = 5000
    wechat: int = 3001

    @classmethod
    def from_environ(cls, environ) -> Ports:
        def port(name: str, default: int) -> int:
            raw = environ.get(name, "").strip() or str(default)
            if not raw.isdigit() or int(raw) > 65535:
                raise SystemExit(f"{name} must be a port number, got {raw!r}")
            return int(raw)

        return cls(port("PORT", 3000), port("MOTO_PORT", 5000), port("WXSIM_PORT", 3001))


def resolve_environment(template: dict, logical_id: str, refs: dict, overrides) -> dict[str, str]:
    """The function's template environment with intrinsics resolved locally and shell overrides on top."""
    parameters = template.get("Parameters", {})
    environment = {}
    for name, value in function_environment(template, logical_id).items():
        if isinstance(value, dict) and set(value) == {"Ref"}:
            target = value["Ref"]
            if target in refs:
                value = refs[target]
            elif target in parameters:
                value = parameters[target].get("Default", "")
            else:
                raise ValueError(f"{logical_id}.{name}: cannot resolve !Ref {target} locally")
        elif isinstance(value, dict):
            raise ValueError(f"{logical_id}.{name}: unsupported intrinsic {value}")
        environment[name] = str(value)
    environment.update({name: overrides[name] for name in environment if name in overrides})
    return environment


class Worker:
    """One function's process; invocations are serialised like a single Lambda instance."""

    def __init__(self, logical_id: str, code_uri: str, handler: str, environment: dict, timeout: float):
        self.logical_id, self.code_uri, self.handler = logical_id, code_uri, handler
        self.environment, self.timeout = environment, timeout
        self.lock = threading.Lock()
        self.process: subprocess.Popen | None = None

    def _start(self) -> None:
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONUNBUFFERED": "1", **self.environment}
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter running our own worker
            [sys.executable, "-m", "local.worker", self.code_uri, self.handler],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        if json.loads(self._read_line() or "{}").get("ready") is not True:
            self.stop()
            raise RuntimeError(f"{self.logical_id} failed to start (its error is above)")

    def _read_line(self) -> str:
        """A line from the worker, or "" when it exceeds the function's timeout (and is killed) or dies."""
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(self.timeout)
        if reader.is_alive():
            self.stop()
            return ""
        return result[0] if result else ""

    def invoke(self, event: dict, context: dict) -> dict | None:
        """The handler's result, or None when the function crashed or timed out (the gateway answers 5xx)."""
        with self.lock:
            try:
                if self.process is None or self.process.poll() is not None:
                    self._start()
                self.process.stdin.write(json.dumps({"event": event, "context": context}) + "\n")
                self.process.stdin.flush()
                line = self._read_line()
            except (RuntimeError, OSError) as exc:
                LOG.error("%s: %s", self.logical_id, exc)
                self.stop()
                return None
            if not line:
                self.stop()
                return None
            reply = json.loads(line)
            return reply.get("result")

    def warm(self) -> None:
        with self.lock:
            if self.process is None:
                self._start()

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.stdin.close()
            try:
                process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.stdout.close()


@dataclass
class LocalStack:
    ports: Ports = field(default_factory=Ports)
    app_id: str = DEV_APP_ID
    app_secret: str = DEV_APP_SECRET
    overrides: dict = field(default_factory=dict)
    quiet: bool = False

    def __post_init__(self):
        self.template = load_template(ROOT / "template.yaml")
        self.moto = None
        self.wechat: WeChatSimulator | None = None
        self.gateway: ThreadingHTTPServer | None = None
        self.workers: dict[str, Worker] = {}
        self.routes: dict[tuple[str, str], Worker] = {}

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway.server_address[1]}"

    @property
    def moto_url(self) -> str:
        host, port = self.moto.get_host_and_port()
        return f"http://{host}:{port}"

    def start(self, warm: bool = True) -> LocalStack:
        try:
            self._start_moto()
            self.wechat = WeChatSimulator(
                apps={self.app_id: self.app_secret}, port=self.ports.wechat, quiet=self.quiet
            ).start()
            self._make_workers()
            if warm:
                for worker in self.workers.values():
                    worker.warm()
            self._start_gateway()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_moto(self) -> None:
        import boto3
        from moto.server import ThreadedMotoServer

        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.ports.moto, verbose=False)
        self.moto.start()
        session = boto3.Session(
            aws_access_key_id=LOCAL_AWS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_AWS["AWS_SECRET_ACCESS_KEY"],
            region_name=LOCAL_AWS["AWS_DEFAULT_REGION"],
        )
        dynamodb = session.client("dynamodb", endpoint_url=self.moto_url)
        dynamodb.create_table(TableName=LOCAL_TABLE, **table_create_kwargs(self.template))
        dynamodb.update_time_to_live(
            TableName=LOCAL_TABLE,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute(self.template)},
        )
        secrets = session.client("secretsmanager", endpoint_url=self.moto_url)
        secrets.create_secret(Name=LOCAL_SECRET_ID, SecretString=json.dumps({self.app_id: self.app_secret}))
        secrets.create_secret(Name=LOCAL_DATA_KEYS_ID, SecretString=generated_secret_string(self.template, "DataKeys"))

    def _make_workers(self) -> None:
        refs = {
            "Table": LOCAL_TABLE,
            "AppSecrets": LOCAL_SECRET_ID,
            "DataKeys": LOCAL_DATA_KEYS_ID,
            "WeChatApiBase": self.wechat.base_url,
        }
        timeout = float(self.template.get("Globals", {}).get("Function", {}).get("Timeout", 3))
        for method, path, logical_id, code_uri, handler in function_routes(self.template):
            if logical_id not in self.workers:
                environment = {
                    **resolve_environment(self.template, logical_id, refs, self.overrides),
                    **LOCAL_AWS,
                    "AWS_ENDPOINT_URL": self.moto_url,
                    "AWS_LAMBDA_FUNCTION_NAME": logical_id,
                }
                environment["POWERTOOLS_LOG_LEVEL"] = self.overrides.get("POWERTOOLS_LOG_LEVEL", "WARNING")
                self.workers[logical_id] = Worker(logical_id, code_uri, handler, environment, timeout)
            self.routes[(method, path)] = self.workers[logical_id]

    def _start_gateway(self) -> None:
        stack = self

        class Gateway(_GatewayHandler):
            routes = stack.routes
            quiet = stack.quiet

        self.gateway = ThreadingHTTPServer(("127.0.0.1", self.ports.api), Gateway)
        self.gateway.daemon_threads = True
        threading.Thread(target=self.gateway.serve_forever, name="gateway", daemon=True).start()

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.shutdown()
            self.gateway.server_close()
            self.gateway = None
        for worker in self.workers.values():
            worker.stop()
        if self.wechat is not None:
            self.wechat.stop()
            self.wechat = None
        if self.moto is not None:
            self.moto.stop()
            self.moto = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _GatewayHandler(BaseHTTPRequestHandler):
    """API Gateway's part: route, build the v2 event, answer what the function returns."""

    routes: dict = {}
    quiet = False
    protocol_version = "HTTP/1.1"
    server_version = "wxlogin-local"

    def _handle(self) -> None:
        started = time.monotonic()
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._answer(413, {"content-type": "application/json"}, '{"message":"Request Entity Too Large"}')
            return
        body = self.rfile.read(length) if length else None
        worker = self.routes.get((self.command, path))
        if worker is None:
            # What an HTTP API answers for a route it does not have.
            status, headers, text = 404, {"content-type": "application/json"}, '{"message":"Not Found"}'
        else:
            event = http_api_event(
                self.command,
                path,
                headers=dict(self.headers.items()),
                body=body,
                query=query,
                source_ip=self.client_address[0],
            )
            context = {"function_name": worker.logical_id}
            result = worker.invoke(event, context)
            status, headers, text = _http_answer(result)
        self._answer(status, headers, text)
        if not self.quiet:
            elapsed = (time.monotonic() - started) * 1000
            print(f"{self.command} {path} {status} {elapsed:.0f}ms", file=sys.stderr, flush=True)

    def _answer(self, status: int, headers: dict, text: str) -> None:
        payload = text.encode("utf-8")
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        """The gateway prints its own line per request, without the query string."""


def _http_answer(result: dict | None) -> tuple[int, dict, str]:
    if result is None:
        return 500, {"content-type": "application/json"}, '{"message":"Internal Server Error"}'
    text = result.get("body") or ""
    if result.get("isBase64Encoded"):
        import base64

        text = base64.b64decode(text).decode("utf-8", "replace")
    return int(result.get("statusCode", 200)), dict(result.get("headers") or {}), text


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server: a line per AWS call is noise here
    ports = Ports.from_environ(os.environ)
    app_id = os.environ.get("APP_ID", "").strip() or DEV_APP_ID
    app_secret = os.environ.get("APP_SECRET", "").strip() or DEV_APP_SECRET
    stack = LocalStack(ports=ports, app_id=app_id, app_secret=app_secret, overrides=dict(os.environ))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        stack.start()
    except (OSError, RuntimeError) as exc:
        print(f"wxlogin local stack failed to start: {exc}", file=sys.stderr)
        stack.stop()
        return 1
    print(
        f"""
wxlogin local stack is up (Ctrl-C stops it)
  HTTP API         {stack.api_url}
  WeChat simulator {stack.wechat.base_url}   appid {app_id}
  moto (AWS)       {stack.moto_url}           table {LOCAL_TABLE}, secret {LOCAL_SECRET_ID}

Try it:
  curl -i {stack.api_url}/v1/me
  code=$(curl -s -X POST {stack.wechat.base_url}/_sim/login -d '{{"appid":"{app_id}","user":"alice"}}' \\
         | python3 -c 'import json,sys; print(json.load(sys.stdin)["code"])')
  curl -s -X POST {stack.api_url}/v1/auth/login -H 'content-type: application/json' -d "{{\\"code\\":\\"$code\\"}}"
or run the scripted Mini Program: make demo
""",
        flush=True,
    )
    stop.wait()
    print("stopping", file=sys.stderr, flush=True)
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
