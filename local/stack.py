"""The whole system on one machine: `make run` (python -m local.stack).

- the HTTP API on 127.0.0.1:$PORT (3000), routed and throttled exactly as template.yaml declares
  (local/gateway.py), read as API Gateway's front end reads HTTP (local/http_front.py), each function in
  worker processes (local/worker.py) with the template's environment: up to $LOCAL_INSTANCES (2) instances
  per function at once, one request each, and its reserved concurrency enforced;
- DynamoDB and Secrets Manager from moto's server mode on 127.0.0.1:$MOTO_PORT (5000),
  the table made from template.yaml, the secret filled with $APP_ID / $APP_SECRET and the
  signing-keys secret with a fresh RS256 key set (scripts/signing_keys.py), the published-keys secret with
  its public halves;
- the template's JWT authorizers enforced on their routes as API Gateway does (local/jwt_authorizer.py),
  the issuer being this API's own URL (the AccessTokenIssuer parameter, as with a custom domain);
- the WeChat simulator on 127.0.0.1:$WXSIM_PORT (3001), reached through WECHAT_API_BASE.

No AWS account, no WeChat account, no Docker. Any variable of a function's
environment in the template can be overridden from the shell, e.g.
`WATERMARK_MAX_AGE_SECONDS=0 make run`, and so can any template parameter under its
own name (`ReservedConcurrency=2 make run`). State lives in memory and is gone on exit.

Every port is checked before anything starts, so a busy one fails at once,
naming the variable that moves it; Ctrl-C (or SIGTERM) stops the stack at any
moment, start-up included.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from local.events import start_local_events
from local.gateway import Gateway
from local.http_front import FrontEnd
from local.iam_authorizer import IamRoutes
from local.jwt_authorizer import JwtRoutes
from local.template import (
    ParameterError,
    function_environment,
    function_property,
    function_routes,
    generated_secret_string,
    load_template,
    parameter_overrides,
    table_create_kwargs,
    template_resolver,
    ttl_attribute,
)
from local.throttles import route_throttles
from local.wechat_simulator import DEV_APP_SECRET, WeChatSimulator
from local.wechat_simulator import DEV_APPID as DEV_APP_ID
from scripts import signing_keys

ROOT = Path(__file__).resolve().parents[1]
LOG = logging.getLogger("wxlogin.local")

LOCAL_TABLE = "wxlogin-local"
LOCAL_SECRET_ID = "wxlogin/local/app-secrets"  # noqa: S105 - the name of a secret, not its value
LOCAL_DATA_KEYS_ID = "wxlogin/local/data-keys"
LOCAL_SIGNING_KEYS_ID = "wxlogin/local/signing-keys"
LOCAL_PUBLISHED_KEYS_ID = "wxlogin/local/published-keys"
# Instances each function may run at once (LOCAL_INSTANCES): Lambda starts another whenever all are busy; here
# a request past the limit waits for one, unless the function's reserved concurrency refuses it first.
DEFAULT_INSTANCES = 2

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

    def by_variable(self) -> dict[str, int]:
        """Each port under the environment variable that sets it."""
        return {"PORT": self.api, "MOTO_PORT": self.moto, "WXSIM_PORT": self.wechat}


DEFAULT_PORTS = Ports().by_variable()


class StartupError(RuntimeError):
    """The stack cannot start; the message says why and what to change."""


def check_ports(ports: Ports) -> None:
    """Refuse, before anything starts, every port that is taken, in one message with one command that moves
    them all and keeps the ports that were chosen already (0 is any free port)."""
    claimed: dict[int, str] = {}
    for variable, port in ports.by_variable().items():
        if port == 0:
            continue
        if port in claimed:
            raise StartupError(f"{claimed[port]} and {variable} are both {port}: give each its own port")
        claimed[port] = variable
    busy = {}
    for variable, port in ports.by_variable().items():
        problem = _port_problem(port) if port else None
        if problem is not None:
            # macOS's AirPlay Receiver listens on 5000, moto's default.
            airplay = " (on macOS, the AirPlay Receiver uses 5000)" if port == 5000 else ""
            busy[variable] = f"port {port} ({variable}) {problem}{airplay}"
    if not busy:
        return
    taken = set(ports.by_variable().values())
    moved = {}
    for variable, port in ports.by_variable().items():
        if variable in busy:
            port = _free_port_after(port, taken)
            taken.add(port)
        if variable in busy or port != DEFAULT_PORTS[variable]:
            moved[variable] = port
    command = " ".join(f"{variable}={port}" for variable, port in moved.items())
    which = "it" if len(busy) == 1 else "them"
    raise StartupError(
        f"{'; '.join(busy.values())}: move {which} with `{command} make run` "
        f"(and give make demo and make invoke the same {'variable' if len(moved) == 1 else 'variables'})"
    )


def _port_problem(port: int) -> str | None:
    """Why 127.0.0.1:port cannot be served, or None when it can."""
    with socket.socket() as probe:
        # As the servers bind: a port left in TIME_WAIT by the last run is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            return (
                "is in use by another program" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc.strerror})"
            )
    # A listener on the wildcard address does not always stop a bind to 127.0.0.1, but it takes the connections.
    with socket.socket() as probe:
        probe.settimeout(1)
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return "is in use by another program"
    return None


def _free_port_after(port: int, taken: set[int]) -> int:
    for candidate in range(port + 1, min(port + 200, 65536)):
        if candidate not in taken and _port_problem(candidate) is None:
            return candidate
    return 0


def local_parameters(template: dict, overrides) -> dict[str, str]:
    """The template parameters the shell sets (checked as CloudFormation checks them); the rest keep their defaults."""
    try:
        return parameter_overrides(template, overrides)
    except ParameterError as exc:
        raise StartupError(str(exc)) from None


def resolve_environment(template: dict, logical_id: str, refs: dict, overrides) -> dict[str, str]:
    """The function's template environment with intrinsics resolved locally (`refs`, then the template's
    parameters as the shell sets them or by default) and shell overrides of the variables themselves on top."""
    resolve = template_resolver(template, {**local_parameters(template, overrides), **refs})
    environment = {}
    for name, value in function_environment(template, logical_id).items():
        try:
            resolved = resolve(value)
        except ValueError as exc:
            raise ValueError(f"{logical_id}.{name}: {exc}") from None
        if resolved is not None:
            environment[name] = resolved
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
            [sys.executable, "-m", "local.worker", self.code_uri, self.handler, str(self.timeout)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        hello = json.loads(self._read_line() or "{}")
        if hello.get("ready") is not True:
            self.stop()
            if "refused" in hello:  # a setting the function refuses: its message says which and why
                raise StartupError(f"{self.logical_id}: {hello['refused']}")
            raise RuntimeError(f"{self.logical_id} failed to start (its error is above)")

    def _read_line(self) -> str:
        """A line from the worker, or "" when it exceeds the function's timeout (and is killed) or dies."""
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(self.timeout)
        if reader.is_alive():
            self.process.kill()  # as Lambda ends a timed-out invocation: at once, not after a graceful stop
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
            except (RuntimeError, OSError) as exc:  # StartupError included: a refused setting is a 500 here
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


class Function:
    """A function as Lambda runs it: instances started as requests need them, each serving one request at a time.

    A request takes the instance that finished last (a warm one) or, when all are busy, a new one (a cold start),
    up to `instances`; past that it waits for one to finish. With `reserved` (ReservedConcurrentExecutions) set,
    a request finding that many in flight is throttled as Lambda throttles it: invoke() answers None, and the
    gateway 500. https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html
    """

    def __init__(
        self,
        logical_id: str,
        code_uri: str,
        handler: str,
        environment: dict,
        timeout: float,
        instances: int = DEFAULT_INSTANCES,
        reserved: int | None = None,
    ):
        self.logical_id, self.code_uri, self.handler = logical_id, code_uri, handler
        self.environment, self.timeout = environment, timeout
        self.max_instances, self.reserved = instances, reserved
        self.instances: list[Worker] = []
        self._idle: list[Worker] = []
        self._in_flight = 0
        self._changed = threading.Condition()

    def _acquire(self) -> Worker | None:
        with self._changed:
            while True:
                if self.reserved is not None and self._in_flight >= self.reserved:
                    return None
                if self._idle:
                    worker = self._idle.pop()
                elif len(self.instances) < self.max_instances:
                    worker = Worker(self.logical_id, self.code_uri, self.handler, self.environment, self.timeout)
                    self.instances.append(worker)
                else:
                    self._changed.wait()
                    continue
                self._in_flight += 1
                return worker

    def _release(self, worker: Worker) -> None:
        with self._changed:
            self._in_flight -= 1
            self._idle.append(worker)
            self._changed.notify()

    def invoke(self, event: dict, context: dict) -> dict | None:
        """The handler's result, or None when the function crashed, timed out or was throttled."""
        worker = self._acquire()
        if worker is None:
            LOG.warning("%s: throttled, its reserved concurrency (%d) is all in use", self.logical_id, self.reserved)
            return None
        try:
            return worker.invoke(event, context)
        finally:
            self._release(worker)

    def warm(self) -> None:
        """Start an instance (the first one) before any request needs it."""
        worker = self._acquire()
        if worker is None:
            return
        try:
            worker.warm()
        finally:
            self._release(worker)

    def stop(self) -> None:
        for worker in self.instances:
            worker.stop()


def local_instances(overrides) -> int:
    raw = str(overrides.get("LOCAL_INSTANCES", "")).strip() or str(DEFAULT_INSTANCES)
    if not raw.isdigit() or int(raw) < 1:
        raise StartupError(f"LOCAL_INSTANCES must be a whole number of instances per function (1 or more), got {raw!r}")
    return int(raw)


def local_refs(wechat_url: str, api_url: str | None = None, app_id: str = DEV_APP_ID) -> dict[str, str]:
    """What the template's resources and parameters are locally. The access tokens' issuer is the local API's
    URL when one serves (as with a custom domain); without one, the template's default (the request's domain)."""
    refs = {
        "Table": LOCAL_TABLE,
        "AppSecrets": LOCAL_SECRET_ID,
        "DataKeys": LOCAL_DATA_KEYS_ID,
        "SigningKeys": LOCAL_SIGNING_KEYS_ID,
        "PublishedKeys": LOCAL_PUBLISHED_KEYS_ID,
        "WeChatApiBase": wechat_url,
        "ExampleApiAudience": app_id,
    }
    if api_url is not None:
        refs["AccessTokenIssuer"] = api_url
    return refs


def local_workers(template: dict, moto_url: str, refs: dict[str, str], overrides) -> dict[str, Function]:
    """Each function of the template with its environment resolved against the local stack (`refs`), its
    instances (LOCAL_INSTANCES) and its reserved concurrency as the template and its parameters set them."""
    instances = local_instances(overrides)
    resolve = template_resolver(template, {**local_parameters(template, overrides), **refs})
    workers: dict[str, Function] = {}
    for _method, _path, logical_id, code_uri, handler in function_routes(template):
        if logical_id not in workers:
            environment = {
                **resolve_environment(template, logical_id, refs, overrides),
                **LOCAL_AWS,
                "AWS_ENDPOINT_URL": moto_url,
                "AWS_LAMBDA_FUNCTION_NAME": logical_id,
            }
            environment["POWERTOOLS_LOG_LEVEL"] = overrides.get("POWERTOOLS_LOG_LEVEL", "WARNING")
            reserved = function_property(template, logical_id, "ReservedConcurrentExecutions")
            reserved = None if reserved is None else resolve(reserved)
            timeout = float(resolve(function_property(template, logical_id, "Timeout") or 3))
            workers[logical_id] = Function(
                logical_id,
                code_uri,
                handler,
                environment,
                timeout,
                instances,
                None if reserved is None else int(float(reserved)),
            )
    return workers


def one_call_at_a_time(app):
    """moto's WSGI app with each AWS call served whole before the next starts. DynamoDB applies every single-item
    read and write atomically; moto does not: an UpdateItem that creates an item puts its bare key first and sets
    the attributes after, so a read by another thread in between saw a user item with no attributes (and the
    function answered 500). Calls take milliseconds, so one at a time costs the local stack little.
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/WorkingWithItems.html"""
    lock = threading.Lock()

    def serve(environ, start_response):
        with lock:
            answer = app(environ, start_response)
            try:
                return [b"".join(answer)]
            finally:
                getattr(answer, "close", lambda: None)()

    return serve


@dataclass
class LocalStack:
    ports: Ports = field(default_factory=Ports)
    app_id: str = DEV_APP_ID
    app_secret: str = DEV_APP_SECRET
    overrides: dict = field(default_factory=dict)
    quiet: bool = False
    # Where the HTTP API and the WeChat simulator listen; moto (the secrets) stays on loopback whatever it says.
    host: str = "127.0.0.1"

    def __post_init__(self):
        self.template = load_template(ROOT / "template.yaml")
        self.moto = None
        self.wechat: WeChatSimulator | None = None
        self.gateway: FrontEnd | None = None
        self.api = Gateway(quiet=self.quiet)
        self.workers: dict[str, Function] = {}
        # The stream function and the EventBridge events it published (local/events.py).
        self.events = None
        self.gateway_serving = False

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway.server_address[1]}"

    @property
    def moto_url(self) -> str:
        return f"http://127.0.0.1:{self.moto.server_address[1]}"

    def aws_client(self, service: str):
        """A boto3 client of this stack's moto, as the functions reach it."""
        import boto3

        return boto3.Session(
            aws_access_key_id=LOCAL_AWS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_AWS["AWS_SECRET_ACCESS_KEY"],
            region_name=LOCAL_AWS["AWS_DEFAULT_REGION"],
        ).client(service, endpoint_url=self.moto_url)

    def start(self, warm: bool = True) -> LocalStack:
        """Start everything, or on any failure or interruption stop what had started and re-raise."""
        try:
            check_ports(self.ports)
            # The settings read from the shell are checked before anything starts, like the ports.
            parameters = local_parameters(self.template, self.overrides)
            local_instances(self.overrides)
            self._progress("starting moto (DynamoDB, Secrets Manager)")
            self._start_moto()
            self.wechat = WeChatSimulator(
                apps={self.app_id: self.app_secret},
                host=self.host,
                port=self.ports.wechat,
                quiet=self.quiet,
                reachable_from_network=not ipaddress.IPv4Address(self.host).is_loopback,
            ).start()
            # The port first: the API's own URL is the access tokens' issuer, in the functions and the authorizer.
            self._bind_gateway()
            refs = local_refs(self.wechat.base_url, self.api_url, self.app_id)
            self._make_workers(refs)
            resolve = template_resolver(self.template, {**parameters, **refs, "AWS::Region": LOCAL_AWS["AWS_REGION"]})
            self.api.jwt_routes = JwtRoutes.from_template(self.template, resolve)
            key, secret = LOCAL_AWS["AWS_ACCESS_KEY_ID"], LOCAL_AWS["AWS_SECRET_ACCESS_KEY"]
            self.api.iam_routes = IamRoutes.from_template(self.template, key, secret, LOCAL_AWS["AWS_REGION"])
            self.events = start_local_events(self, refs)
            try:
                self.api.throttles = route_throttles(self.template, resolve)
            except ValueError as exc:
                raise StartupError(f"the template's throttles: {exc}") from None
            if warm:
                for logical_id, worker in self.workers.items():
                    self._progress(f"starting {logical_id}")
                    worker.warm()
            threading.Thread(target=self.gateway.serve_forever, name="gateway", daemon=True).start()
            self.gateway_serving = True
        except BaseException:
            self.stop()
            raise
        return self

    def _progress(self, step: str) -> None:
        if not self.quiet:
            print(step, file=sys.stderr, flush=True)

    def _start_moto(self) -> None:
        from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server: a line per AWS call is noise here
        # moto's ThreadedMotoServer binds in its own thread and, when that fails, waits for ever; here the
        # bind happens in this thread, so a port taken since check_ports() is an error at once.
        try:
            server = make_server(
                "127.0.0.1",
                self.ports.moto,
                one_call_at_a_time(DomainDispatcherApplication(create_backend_app)),
                threaded=True,
                request_handler=MotoRequestHandler,
            )
        except SystemExit:  # werkzeug's answer to a failed bind, after printing why
            raise StartupError(f"moto cannot listen on port {self.ports.moto}: choose another with MOTO_PORT") from None
        # Kept only once it serves: shutdown() of a server that never served would wait for ever.
        threading.Thread(target=server.serve_forever, name="moto", daemon=True).start()
        self.moto = server
        dynamodb = self.aws_client("dynamodb")
        dynamodb.create_table(TableName=LOCAL_TABLE, **table_create_kwargs(self.template))
        dynamodb.update_time_to_live(
            TableName=LOCAL_TABLE,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute(self.template)},
        )
        secrets = self.aws_client("secretsmanager")
        secrets.create_secret(Name=LOCAL_SECRET_ID, SecretString=json.dumps({self.app_id: self.app_secret}))
        secrets.create_secret(Name=LOCAL_DATA_KEYS_ID, SecretString=generated_secret_string(self.template, "DataKeys"))
        # The signing keys and their public halves, as an operator puts them (docs/deploying.md, step 4).
        key_set = signing_keys.new_key_set()
        secrets.create_secret(Name=LOCAL_SIGNING_KEYS_ID, SecretString=json.dumps(key_set))
        secrets.create_secret(Name=LOCAL_PUBLISHED_KEYS_ID, SecretString=json.dumps(signing_keys.publish(key_set)))

    def _make_workers(self, refs: dict[str, str]) -> None:
        self.workers = local_workers(self.template, self.moto_url, refs, self.overrides)
        for method, path, logical_id, _, _ in function_routes(self.template):
            self.api.routes[(method, path)] = self.workers[logical_id]

    def _bind_gateway(self) -> None:
        self.gateway = FrontEnd((self.host, self.ports.api), self.api.respond)

    def stop(self) -> None:
        if self.gateway is not None:
            if self.gateway_serving:  # shutdown() of a server that never served would wait for ever
                self.gateway.shutdown()
            self.gateway.server_close()
            self.gateway, self.gateway_serving = None, False
        for worker in self.workers.values():
            worker.stop()
        if self.events is not None:
            self.events.stop()
            self.events = None
        if self.wechat is not None:
            self.wechat.stop()
            self.wechat = None
        if self.moto is not None:
            from moto.moto_api._internal import moto_api_backend

            self.moto.shutdown()
            self.moto.server_close()
            self.moto = None
            # moto keeps its state in this process's backends, which outlive the server: forget it, so the
            # stack's state is gone when it stops and a later stack in the same process starts empty.
            moto_api_backend.reset()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def listen_host(environ) -> str:
    """HOST: the IPv4 address the HTTP API and the simulator listen on (127.0.0.1; 0.0.0.0 for a phone preview)."""
    raw = environ.get("HOST", "").strip() or "127.0.0.1"
    try:
        return str(ipaddress.IPv4Address(raw))
    except ValueError:
        raise StartupError(f"HOST must be an IPv4 address of this machine, e.g. 0.0.0.0, got {raw!r}") from None


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # Ctrl-C and SIGTERM interrupt whatever runs, start-up included; start() stops what had started.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    stack = None
    try:
        ports = Ports.from_environ(os.environ)
        app_id = os.environ.get("APP_ID", "").strip() or DEV_APP_ID
        app_secret = os.environ.get("APP_SECRET", "").strip() or DEV_APP_SECRET
        host = listen_host(os.environ)
        stack = LocalStack(ports=ports, app_id=app_id, app_secret=app_secret, overrides=dict(os.environ), host=host)
        stack.start()
        print(_banner(stack, app_id), flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        print("stopping", file=sys.stderr, flush=True)
        if stack is not None:
            stack.stop()
        return 0
    except (StartupError, OSError, RuntimeError) as exc:
        print(f"wxlogin local stack failed to start: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


def _banner(stack: LocalStack, app_id: str) -> str:
    return (
        _network_warning(stack)
        + f"""
wxlogin local stack is up (Ctrl-C stops it)
  HTTP API         {stack.api_url}
  WeChat simulator {stack.wechat.base_url}   appid {app_id}   dev routes: GET {stack.wechat.base_url}/_sim/
  moto (AWS)       {stack.moto_url}           table {LOCAL_TABLE}, secrets {LOCAL_SECRET_ID}, {LOCAL_SIGNING_KEYS_ID}
  access tokens    issuer {stack.api_url}, audience {app_id}; GET /v1/examples/whoami takes one
  admin API        {stack.api_url}/admin/users/* (IAM-signed: AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local)
                   e.g. python scripts/admin.py --url {stack.api_url} find --appid {app_id} --openid <openid>
  events           EventBridge events print here as "event <detail-type> <detail>"

Try it:
  curl -i {stack.api_url}/v1/me
  code=$(curl -s -X POST {stack.wechat.base_url}/_sim/login -d '{{"appid":"{app_id}","user":"alice"}}' \\
         | python3 -c 'import json,sys; print(json.load(sys.stdin)["code"])')
  curl -s -X POST {stack.api_url}/v1/auth/login -H 'content-type: application/json' -d "{{\\"code\\":\\"$code\\"}}"
or run the scripted Mini Program: make demo
"""
    )


def _network_warning(stack: LocalStack) -> str:
    if ipaddress.IPv4Address(stack.host).is_loopback:
        return ""
    api, wechat = stack.ports.api or stack.gateway.server_address[1], stack.wechat.base_url.rsplit(":", 1)[1]
    return f"""
WARNING: HOST={stack.host}: the HTTP API and the WeChat simulator answer anyone who can reach this machine.
  The simulator's dev routes mint a login code for any user: use this only on a network you trust, and stop it
  when the preview is done. moto (the table and the secrets) still listens on 127.0.0.1 only.
  From a phone: http://<this machine's LAN address>:{api} (API), :{wechat} (simulator)
"""


if __name__ == "__main__":
    sys.exit(main())
