"""`make bench`: cold start, warm latency, remote calls, package size and cost of the built functions (issue 6).

Everything runs against the `.aws-sam/build` artifacts, each function in fresh
interpreters laid out as Lambda lays them out (`/var/task`, then the layer,
then the runtime's boto3; `python -S`, so nothing else of the venv), with the
template's environment, X-Ray tracing on, DynamoDB and Secrets Manager answered
by moto's server and WeChat by the simulator, all on 127.0.0.1:

- cold start: from spawning a fresh interpreter to the end of its first
  request, as a ratio to the floor (a fresh interpreter that only imports boto3
  and creates the DynamoDB client); median of REPS runs, interleaved; in wall
  time, CPU time and (where `perf stat` works) user-space instructions, which
  other work on the machine does not disturb. Twice per function: with the
  layer as built (with the bytecode its Makefile ships, as Lambda runs it) and
  with every module precompiled;
- warm latency: WARM_N requests per route in one process per function, after
  a warm-up; p50/p99 wall time, the same less the remote round trips, CPU time;
- remote calls: counted inside the function's process by hooking botocore's
  events (every session, so Powertools' own Secrets Manager client too) and the
  http.client connections WeChat calls go through, cross-checked against the
  simulator's /_sim/stats; read/write units from the items' sizes;
- sizes of the built artifacts, unzipped and zipped as `sam deploy` zips them;
- the cost of a million requests at the list prices in PRICES below, and a
  MemorySize chosen by cost per login under the model in ASSUMPTIONS.

Only the standard library, boto3, moto and the repo's `local` package are used here;
the function processes see nothing of this file. BENCH_REPS and BENCH_WARM_N shrink a run.
"""

from __future__ import annotations

import io
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from local.wechat_simulator import DEV_APP_SECRET, DEV_APPID  # noqa: E402 - needs ROOT on the path first

# ---------------------------------------------------------------------------------------------------------------
# Prices: us-east-1 list prices, the only place they are written (checked 2025; DynamoDB on-demand as cut 2024-11).
PRICES = {
    "http_api_per_million": 1.00,  # API Gateway HTTP API, first 300 M requests a month (per 512 KB)
    "lambda_per_million": 0.20,  # Lambda requests
    "lambda_arm64_gb_second": 0.0000133334,  # Lambda duration on arm64, first 7.5 B GB-s a month
    "dynamodb_wru_per_million": 0.625,  # DynamoDB on-demand write request units
    "dynamodb_rru_per_million": 0.125,  # DynamoDB on-demand read request units
    "secrets_per_10k_calls": 0.05,  # Secrets Manager API calls (plus $0.40 per secret-month, not per request)
}
# Assumptions of the cost and memory model; each is printed with the figures it shapes.
ASSUMPTIONS = {
    # Lambda gives a function CPU in proportion to memory: one full vCPU at 1769 MB, a fraction below.
    "full_vcpu_mb": 1769,
    # Share of invocations that are cold starts (each bills its INIT phase since 2025-08 and reads the secret).
    "cold_start_rate": 0.01,
    # Round trips seen from us-east-1 Lambda, replacing the loopback ones in the modelled durations.
    "dynamodb_ms": 5.0,
    "secrets_manager_ms": 15.0,
    "wechat_ms": 250.0,  # api.weixin.qq.com is in mainland China
    # Memory a size must have over the function process's measured peak: the runtime client, larger payloads.
    "memory_headroom": 2.0,
}
MEMORY_CHOICES = (128, 256, 512, 1024, 1769)
COST_ROUTES = ("POST /v1/auth/login", "GET /v1/me", "POST /v1/profile/decrypt")

REPS = int(os.environ.get("BENCH_REPS", "7"))
WARM_N = int(os.environ.get("BENCH_WARM_N", "200"))
WARMUP_N = 20
INSTRUCTION_REPS = 2
DESTRUCTIVE_N = max(10, WARM_N // 2)  # logouts and account deletions use up one session/user each
COLD_TARGET = 1.2
FUNCTION_MAX_BYTES = 100 * 1024

BUILD = ROOT / ".aws-sam" / "build"
LAYER_DIR = BUILD / "SharedLayer" / "python"
FUNCTIONS = ("LoginFunction", "ProfileFunction", "AccountFunction")
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3")
NATIVE = ("cryptography", "cffi")
APPID, APP_SECRET = DEV_APPID, DEV_APP_SECRET
SESSION_KEY = "AAECAwQFBgcICQoLDA0ODw=="
TABLE = "wxlogin-bench"
SECRET_ID = "wxlogin/bench/app-secrets"  # noqa: S105 - a secret's name, not a secret
DATA_KEYS_ID = "wxlogin/bench/data-keys"

# ---------------------------------------------------------------------------------------------------------------
# The code a function's process runs. It is given on the command line (no file of ours on its path), reads
# its plan from BENCH_INPUT and writes what it measured to BENCH_OUTPUT.
FLOOR = r"""
import time
import boto3
boto3.client("dynamodb")
t_first, cpu = time.monotonic(), time.process_time()
import json, os
with open(os.environ["BENCH_OUTPUT"], "w") as out:
    json.dump({"t_first": t_first, "cpu": cpu}, out)
os._exit(0)
"""

# The libraries every function loads before any code of ours, as wxlogin.api wires them: a reference, not a target.
FLOOR_POWERTOOLS = r"""
import time
import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
Logger(); Metrics(); Tracer(patch_modules=("botocore",))
boto3.client("dynamodb")
t_first, cpu = time.monotonic(), time.process_time()
import json, os
with open(os.environ["BENCH_OUTPUT"], "w") as out:
    json.dump({"t_first": t_first, "cpu": cpu}, out)
os._exit(0)
"""

RUNNER = r"""
import os, sys, time

class Context:
    # The attributes of a Lambda context Powertools reads.
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    log_group_name = "/aws/lambda/" + function_name
    log_stream_name = "bench"

    def __init__(self):
        raw = os.urandom(16).hex()
        self.aws_request_id = f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"

    def get_remaining_time_in_millis(self):
        return 15000

def invoke(event):
    # The runtime sets a new trace header for every invocation; the X-Ray SDK reads it from the environment.
    os.environ["_X_AMZN_TRACE_ID"] = (
        f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()};Parent={os.urandom(8).hex()};Sampled=1"
    )
    return app.lambda_handler(event, Context())

if os.environ["BENCH_MODE"] == "cold":
    import app
    t_import = time.monotonic()
    import json
    with open(os.environ["BENCH_INPUT"]) as f:
        phases = json.load(f)
    result = invoke(phases[0]["events"][0])
    t_first, cpu = time.monotonic(), time.process_time()
    with open(os.environ["BENCH_OUTPUT"], "w") as out:
        json.dump({"t_import": t_import, "t_first": t_first, "cpu": cpu, "status": result["statusCode"]}, out)
    os._exit(0)

# Warm mode: count every remote call and time every request.
import http.client, json, math, resource
import botocore.session

counting = True
calls = []  # one entry per remote request of the current invocation

def on_before_send(request, event_name, **kwargs):
    if counting:
        calls.append({"service": event_name.split(".")[1], "operation": event_name.split(".")[2]})

def on_params(params, model, event_name, context, **kwargs):
    if counting and event_name.startswith("before-parameter-build.dynamodb."):
        context["bench_params"] = params

def on_after_call(http_response, parsed, model, event_name, context, **kwargs):
    if counting and event_name.startswith("after-call.dynamodb."):
        ddb_log.append((model.name, context.get("bench_params") or {}, parsed))

ddb_log = []
_session_init = botocore.session.Session.__init__

def session_init(self, *args, **kwargs):
    # Every botocore session (boto3's default one and the one Powertools Parameters makes) counts.
    _session_init(self, *args, **kwargs)
    self.register("before-send", on_before_send)
    self.register("before-parameter-build", on_params)
    self.register("after-call", on_after_call)

botocore.session.Session.__init__ = session_init
_putrequest = http.client.HTTPConnection.putrequest
wechat_host = os.environ["WECHAT_API_BASE"].split("://", 1)[1].split("/", 1)[0]

_getresponse = http.client.HTTPConnection.getresponse
remote_wait = 0.0

def putrequest(self, method, url, *args, **kwargs):
    # Below any HTTP library: every request to the WeChat host, whichever client sends it.
    if counting and f"{self.host}:{self.port}" == wechat_host:
        calls.append({"service": "wechat", "operation": url.split("?")[0]})
    self._bench_sent = time.monotonic()
    return _putrequest(self, method, url, *args, **kwargs)

def getresponse(self, *args, **kwargs):
    # Time from sending a request to its answer's head: the remote side's share of a request's wall time.
    global remote_wait
    try:
        return _getresponse(self, *args, **kwargs)
    finally:
        remote_wait += time.monotonic() - getattr(self, "_bench_sent", time.monotonic())

http.client.HTTPConnection.putrequest = putrequest
http.client.HTTPConnection.getresponse = getresponse

import app

def _number_size(text):
    digits = text.lstrip("-").replace(".", "").strip("0") or "0"
    return len(digits) // 2 + 2

def _value_size(kind, raw):
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        return _number_size(raw)
    if kind == "B":
        return len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS", "L"):
        return 3 + sum(_value_size(*next(iter(v.items()))) if isinstance(v, dict) else len(str(v)) for v in raw)
    if kind == "M":
        return 3 + item_size(raw)
    return len(str(raw))

def item_size(item):
    # DynamoDB's item size: attribute names plus values (strings UTF-8, numbers ~1 byte per 2 digits + 1).
    return sum(len(name.encode()) + _value_size(*next(iter(attr.items()))) for name, attr in (item or {}).items())

def _key_of(item, key_names=("pk", "sk")):
    return {name: item[name] for name in key_names if name in item}

_lookup_client = None

def _current_size(table, key):
    global _lookup_client
    if _lookup_client is None:
        import boto3
        _lookup_client = boto3.client("dynamodb")
    item = _lookup_client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    return item_size(item) if item else None

def _read_units(size, consistent, transactional=False):
    units = max(1, math.ceil(size / 4096))
    return units * (2 if transactional else 1) * (1 if consistent else 0.5)

def _write_units(size, transactional=False):
    return max(1, math.ceil((size or 0) / 1024)) * (2 if transactional else 1)

def capacity(log):
    # Request units estimated from item sizes (moto's ConsumedCapacity is a constant), by DynamoDB's rules:
    # reads 1 RRU per 4 KB strongly consistent (0.5 eventually), writes 1 WRU per 1 KB, transactions twice.
    # A written item is sized as it stands afterwards; a deleted one counts 1 WRU (all our items are < 1 KB).
    rru = wru = 0.0
    writes = []
    for op, params, parsed in log:
        consistent = bool(params.get("ConsistentRead"))
        if op == "GetItem":
            rru += _read_units(item_size(parsed.get("Item")), consistent)
        elif op == "BatchGetItem":
            for table, spec in params.get("RequestItems", {}).items():
                found = {json.dumps(_key_of(i), sort_keys=True): i for i in parsed.get("Responses", {}).get(table, [])}
                for key in spec.get("Keys", []):
                    item = found.get(json.dumps(key, sort_keys=True))
                    rru += _read_units(item_size(item), bool(spec.get("ConsistentRead")))
        elif op == "Query":
            size = sum(item_size(i) for i in parsed.get("Items", []))
            rru += _read_units(size, consistent)
        elif op in ("PutItem", "UpdateItem", "DeleteItem"):
            writes.append((params["TableName"], params.get("Key") or _key_of(params["Item"]), False))
        elif op == "TransactWriteItems":
            for action in params.get("TransactItems", []):
                ((kind, spec),) = action.items()
                writes.append((spec["TableName"], spec.get("Key") or _key_of(spec["Item"]), True))
        elif op == "BatchWriteItem":
            for table, requests_ in params.get("RequestItems", {}).items():
                for r in requests_:
                    spec = r.get("PutRequest") or r.get("DeleteRequest")
                    writes.append((table, spec.get("Key") or _key_of(spec["Item"]), False))
    for table, key, transactional in writes:
        wru += _write_units(_current_size(table, key), transactional)
    return rru, wru

CAPACITY_SAMPLES = 20
with open(os.environ["BENCH_INPUT"]) as f:
    phases = json.load(f)
report = []
for phase in phases:
    samples = []
    for event in phase["events"]:
        calls.clear()
        ddb_log.clear()
        counting = True
        remote_wait = 0.0
        cpu0, t0 = time.process_time(), time.monotonic()
        result = invoke(event)
        wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
        counting = False
        sample = {"wall": wall, "cpu": cpu, "remote": remote_wait, "status": result["statusCode"]}
        for call in calls:
            sample[call["service"]] = sample.get(call["service"], 0) + 1
        sample["operations"] = sorted(c["operation"] for c in calls if c["service"] == "dynamodb")
        if phase.get("count") and len(samples) < CAPACITY_SAMPLES:
            # Sizing the written items costs lookups; a route's units are the same request after request.
            sample["rru"], sample["wru"] = capacity(list(ddb_log))
        if phase.get("keep_body"):
            sample["body"] = result.get("body")
        samples.append(sample)
    report.append({"name": phase["name"], "route": phase.get("route"), "samples": samples})
try:
    # The high-water mark of this process's own memory; ru_maxrss would carry the spawning parent's.
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with open(os.environ["BENCH_OUTPUT"], "w") as out:
    json.dump({"phases": report, "peak_rss_kb": peak}, out)
os._exit(0)
"""


# ---------------------------------------------------------------------------------------------------------------
# The local stand-ins for AWS and WeChat.
class Stack:
    def __init__(self):
        import logging

        import boto3
        import requests
        from moto.server import ThreadedMotoServer

        from local.template import generated_secret_string, load_template, table_create_kwargs
        from local.wechat_simulator import WeChatSimulator

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise
        self.template = load_template(ROOT / "template.yaml")
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.simulator = WeChatSimulator(apps={APPID: APP_SECRET}, quiet=True).start()
        self.wechat = self.simulator.base_url
        self.http = requests.Session()
        placeholder = "bench"  # moto accepts any credentials
        session = boto3.Session(
            aws_access_key_id=placeholder, aws_secret_access_key=placeholder, region_name="us-east-1"
        )
        self.dynamodb = session.client("dynamodb", endpoint_url=self.endpoint)
        self.dynamodb.create_table(TableName=TABLE, **table_create_kwargs(self.template))
        secrets = session.client("secretsmanager", endpoint_url=self.endpoint)
        secrets.create_secret(Name=SECRET_ID, SecretString=json.dumps({APPID: APP_SECRET}))
        secrets.create_secret(Name=DATA_KEYS_ID, SecretString=generated_secret_string(self.template, "DataKeys"))

    def stop(self):
        self.simulator.stop()
        self.moto.stop()

    def sim(self, path: str, body: dict) -> dict:
        answer = self.http.post(self.wechat + path, json=body, timeout=5)
        answer.raise_for_status()
        return answer.json()

    def sim_stats(self) -> dict:
        return self.http.get(self.wechat + "/_sim/stats", timeout=5).json()["calls"]

    def login_code(self, user: str) -> str:
        code = f"bench-{user}-{os.urandom(6).hex()}"
        self.sim(
            "/_sim/sessions", {"code": code, "openid": openid_of(user), "session_key": SESSION_KEY, "appid": APPID}
        )
        return code

    def profile_data(self, user: str) -> dict:
        return self.sim(
            "/_sim/user-data",
            {"appid": APPID, "openid": openid_of(user), "kind": "profile", "session_key": SESSION_KEY},
        )


def openid_of(user: str) -> str:
    return f"oBench{user:0>22}"[:28]


def event(method: str, path: str, body=None, token: str | None = None, headers: dict | None = None) -> dict:
    from local.http_events import http_api_event

    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        headers["Content-Type"] = "application/json"
        body = json.dumps(body)
    path, _, query = path.partition("?")
    return http_api_event(method, path, headers=headers, body=body, query=query)


# ---------------------------------------------------------------------------------------------------------------
# Fresh interpreters laid out as Lambda lays them out.
class Sandbox:
    """Path overlays and bytecode caches for the function processes.

    `python -S` keeps the venv's site-packages (moto, awscrt, pyOpenSSL...) off the path; the layer's
    arm64 native packages are replaced by this machine's builds of the same versions ("native"), and the
    runtime's boto3/botocore come from the venv ("runtime"). Bytecode lives under PYTHONPYCACHEPREFIX so the
    build folders stay as sam built them: "full" holds bytecode for everything, the function's own app.py
    included; "runtime" uses only the bytecode that ships, as on Lambda: the layer's (compiled by
    layers/wxlogin/Makefile, since /opt is read-only and nothing could be written there) and the runtime's.
    """

    def __init__(self, stack: Stack, tmp: Path):
        self.stack = stack
        self.tmp = tmp
        self.native = tmp / "native"
        self.runtime = tmp / "runtime"
        self.pyc_full = tmp / "pyc-full"
        site = Path(next(p for p in sys.path if p.endswith("site-packages")))
        for folder, names in ((self.native, NATIVE), (self.runtime, RUNTIME_PROVIDED)):
            folder.mkdir()
            for name in names:
                (folder / name).symlink_to(site / name)
        for backend in site.glob("_cffi_backend*"):
            (self.native / backend.name).symlink_to(backend)

    def environment(self, logical_id: str | None, bytecode: str, write_bytecode: bool = False) -> dict:
        from local.template import function_environment

        env = {
            "PATH": os.environ["PATH"],
            "LANG": "C.UTF-8",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.stack.endpoint,
        }
        if bytecode == "full":
            env["PYTHONPYCACHEPREFIX"] = str(self.pyc_full)
        # "runtime" reads the bytecode where Lambda would find it: the layer's own __pycache__ folders
        # (layers/wxlogin/Makefile compiles them) and those of the standard library and the runtime's packages.
        if not write_bytecode:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        if logical_id is None:
            env["PYTHONPATH"] = str(self.runtime)
            return env
        template = self.stack.template
        params = {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
        resolved = {"Table": TABLE, "AppSecrets": SECRET_ID, "DataKeys": DATA_KEYS_ID, **params}
        for name, value in function_environment(template, logical_id).items():
            if isinstance(value, dict) and "Ref" in value:
                value = resolved.get(value["Ref"], "")
            env[name] = str(value)
        memory = memory_size(template, logical_id)
        env.update(
            {
                "TABLE_NAME": TABLE,
                "WECHAT_API_BASE": self.stack.wechat,
                # The Lambda environment: Powertools' Tracer traces only where LAMBDA_TASK_ROOT is set. Tracing is
                # on (the template says Active); with no X-Ray daemon the SDK's UDP datagrams simply go nowhere.
                "LAMBDA_TASK_ROOT": str(BUILD / logical_id),
                "AWS_LAMBDA_FUNCTION_NAME": logical_id,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
                "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
                # /var/task, then /opt/python (the layer), then /var/runtime (boto3): Lambda's order.
                "PYTHONPATH": os.pathsep.join(
                    str(p) for p in (BUILD / logical_id, self.native, LAYER_DIR, self.runtime)
                ),
            }
        )
        if "APP_SECRETS_ID" in env:
            env["APP_SECRETS_ID"] = SECRET_ID
        return env

    def run(
        self, code: str, env: dict, phases: list | None = None, timeout: float = 300, wrap: tuple = ()
    ) -> tuple[float, dict]:
        """Spawn a fresh interpreter (under `wrap`, e.g. perf stat); answer (spawn time, what it reported)."""
        inp, out = self.tmp / "input.json", self.tmp / "output.json"
        inp.write_text(json.dumps(phases or []))
        out.unlink(missing_ok=True)
        env = {**env, "BENCH_INPUT": str(inp), "BENCH_OUTPUT": str(out)}
        spawned = time.monotonic()
        proc = subprocess.run(  # noqa: S603 - our own interpreter running our own code
            [*wrap, sys.executable, "-S", "-c", code],
            env=env,
            cwd=self.tmp,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"benchmark process failed ({proc.returncode}):\n{proc.stderr.decode()[-4000:]}")
        return spawned, json.loads(out.read_text())


def memory_size(template: dict, logical_id: str) -> int:
    own = template["Resources"][logical_id]["Properties"].get("MemorySize")
    return int(own or template.get("Globals", {}).get("Function", {}).get("MemorySize", 128))


# ---------------------------------------------------------------------------------------------------------------
# Warm runs: one process per function serving every route of it; the first request is the cold instance's.
def login_plan(stack: Stack) -> list:
    def logins(users, headers=None):
        return [event("POST", "/v1/auth/login", {"code": stack.login_code(u)}, headers=headers) for u in users]

    returning = [f"r{i % WARMUP_N}" for i in range(WARM_N)]
    return [
        {"name": "cold", "route": "POST /v1/auth/login", "events": logins(["r0"]), "count": True, "keep_body": True},
        {"name": "warmup", "events": logins([f"r{i}" for i in range(WARMUP_N)])},
        {"name": "POST /v1/auth/login", "events": logins(returning), "count": True, "keep_body": True},
        {
            "name": "POST /v1/auth/login (new user)",
            "events": logins([f"n{i}" for i in range(DESTRUCTIVE_N)]),
            "count": True,
            "keep_body": True,
        },
        {
            "name": "POST /v1/auth/login (Idempotency-Key)",
            "events": [
                event(
                    "POST",
                    "/v1/auth/login",
                    {"code": stack.login_code(f"r{i % WARMUP_N}")},
                    headers={"Idempotency-Key": os.urandom(16).hex()},
                )
                for i in range(DESTRUCTIVE_N)
            ],
            "count": True,
        },
    ]


def profile_plan(stack: Stack, token: str, with_phone: bool) -> list:
    data = stack.profile_data("r0")
    decrypt = [event("POST", "/v1/profile/decrypt", data, token=token) for _ in range(WARM_N)]
    plan = [
        {
            "name": "cold",
            "route": "POST /v1/profile/decrypt",
            "events": [event("POST", "/v1/profile/decrypt", data, token=token)],
            "count": True,
        },
        {"name": "warmup", "events": decrypt[:WARMUP_N]},
        {"name": "POST /v1/profile/decrypt", "events": decrypt, "count": True},
    ]
    if with_phone:

        def phone():
            code = stack.sim("/_sim/phone-code", {"appid": APPID, "openid": openid_of("r0")})["code"]
            return event("POST", "/v1/profile/phone", {"code": code}, token=token)

        plan += [
            {"name": "phone warmup", "events": [phone() for _ in range(5)]},
            {"name": "POST /v1/profile/phone", "events": [phone() for _ in range(WARM_N)], "count": True},
        ]
    return plan


def account_plan(token: str, logout_tokens: list, delete_tokens: list) -> list:
    me = [event("GET", "/v1/me", token=token) for _ in range(WARM_N)]
    return [
        {"name": "cold", "route": "GET /v1/me", "events": me[:1], "count": True},
        {"name": "warmup", "events": me[:WARMUP_N]},
        {"name": "GET /v1/me", "events": me, "count": True},
        {
            "name": "PATCH /v1/me",
            "events": [event("PATCH", "/v1/me", {"nickName": f"bench {i}"}, token=token) for i in range(WARM_N)],
            "count": True,
        },
        {
            "name": "POST /v1/auth/logout",
            "events": [event("POST", "/v1/auth/logout", token=t) for t in logout_tokens],
            "count": True,
        },
        {"name": "DELETE /v1/me", "events": [event("DELETE", "/v1/me", token=t) for t in delete_tokens], "count": True},
    ]


def tokens(phase: dict) -> list[str]:
    return [json.loads(s["body"])["token"] for s in phase["samples"] if s["status"] == 200]


def warm_runs(stack: Stack, box: Sandbox) -> dict:
    """Each function's warm process; also fills the "full" bytecode cache (it may write bytecode)."""
    results, wechat_check = {}, {}

    def run(logical_id, plan):
        before = stack.sim_stats()
        _, report = box.run(
            RUNNER, {**box.environment(logical_id, "full", write_bytecode=True), "BENCH_MODE": "warm"}, plan
        )
        after = stack.sim_stats()
        counted = sum(s.get("wechat", 0) for p in report["phases"] for s in p["samples"])
        wechat_check[logical_id] = (counted, sum(after.values()) - sum(before.values()))
        results[logical_id] = report
        return {p["name"]: p for p in report["phases"]}

    login = run("LoginFunction", login_plan(stack))
    token = tokens(login["cold"])[0]
    returning, new_users = tokens(login["POST /v1/auth/login"]), tokens(login["POST /v1/auth/login (new user)"])
    with_phone = ("POST", "/v1/profile/phone") in routes(stack.template)
    run("ProfileFunction", profile_plan(stack, token, with_phone))
    run("AccountFunction", account_plan(token, returning[1 : DESTRUCTIVE_N + 1], new_users))
    return {"reports": results, "wechat_check": wechat_check, "token": token}


def routes(template: dict) -> dict:
    from local.template import function_routes

    return {(method, path): logical_id for method, path, logical_id, _, _ in function_routes(template)}


# ---------------------------------------------------------------------------------------------------------------
# Cold starts, interleaved: floor, then each function with and without the layer's bytecode, REPS times.
def cold_runs(stack: Stack, box: Sandbox, token: str) -> dict:
    def first_request(logical_id: str) -> list:
        if logical_id == "LoginFunction":
            ev = event("POST", "/v1/auth/login", {"code": stack.login_code("c0")})
        elif logical_id == "ProfileFunction":
            ev = event("POST", "/v1/profile/decrypt", stack.profile_data("r0"), token=token)
        else:
            ev = event("GET", "/v1/me", token=token)
        return [{"name": "cold", "events": [ev]}]

    def spawn(name: str, logical_id: str | None, mode: str, wrap: tuple = ()) -> tuple[float, dict]:
        env = {**box.environment(logical_id, mode), "BENCH_MODE": "cold"}
        if name in ("floor", "powertools"):
            spawned, report = box.run(FLOOR if name == "floor" else FLOOR_POWERTOOLS, env, wrap=wrap)
            return spawned, {**report, "t_import": report["t_first"], "status": 200}
        return box.run(RUNNER, env, first_request(logical_id), wrap=wrap)

    runs: dict[tuple, list] = {}
    cases = [("floor", None, "full"), ("powertools", "AccountFunction", "full")]
    cases += [(f, f, mode) for f in FUNCTIONS for mode in ("runtime", "full")]
    for rep in range(REPS):
        rotated = cases[rep % len(cases) :] + cases[: rep % len(cases)]  # no case always runs first
        for name, logical_id, mode in rotated:
            spawned, report = spawn(name, logical_id, mode)
            runs.setdefault((name, mode), []).append(
                {
                    "total": report["t_first"] - spawned,
                    "import": report["t_import"] - spawned,
                    "first": report["t_first"] - report["t_import"],
                    "cpu": report["cpu"],
                    "status": report["status"],
                }
            )
    results = {
        key: {field: statistics.median(r[field] for r in values) for field in ("total", "import", "first", "cpu")}
        | {"statuses": sorted({r["status"] for r in values})}
        for key, values in runs.items()
    }
    # The same cold starts counted in CPU instructions (user space), which other work on the machine does not
    # change; only where `perf stat` is allowed. The processes end with os._exit, so teardown is not counted.
    perf = shutil.which("perf")
    for name, logical_id, mode in cases if perf else ():
        counts = []
        out = box.tmp / "perf.txt"
        for _ in range(INSTRUCTION_REPS):
            try:
                wrap = (perf, "stat", "-x", ",", "-e", "instructions:u", "-o", str(out), "--")
                spawn(name, logical_id, mode, wrap=wrap)
                line = next(x for x in out.read_text().splitlines() if "instructions" in x)
                counts.append(int(line.split(",")[0]))
            except (RuntimeError, StopIteration, ValueError, OSError):
                break  # perf present but not permitted here: no instruction figures
        if len(counts) == INSTRUCTION_REPS:
            results[(name, mode)]["instructions"] = statistics.median(counts)
    return results


# ---------------------------------------------------------------------------------------------------------------
# Sizes of what `sam deploy` uploads: each folder zipped, the layer's shipped bytecode included.
def artifact_size(folder: Path) -> dict:
    files, raw = 0, 0
    buffer = io.BytesIO()
    packages: dict[str, int] = {}
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder)
            if not path.is_file():
                continue
            files += 1
            size = path.stat().st_size
            raw += size
            top = rel.parts[1] if rel.parts[0] == "python" and len(rel.parts) > 1 else rel.parts[0]
            name = top.split("-")[0].removesuffix(".py")  # a package and its dist-info together
            packages[name] = packages.get(name, 0) + size
            archive.write(path, str(rel))
    forbidden = sorted(p for p in packages if p in ("boto3", "botocore", "s3transfer"))
    return {"files": files, "raw": raw, "zipped": len(buffer.getvalue()), "packages": packages, "forbidden": forbidden}


# ---------------------------------------------------------------------------------------------------------------
# Figures.
def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def route_stats(warm: dict) -> list[dict]:
    rows = []
    for logical_id, report in warm["reports"].items():
        phases = {p["name"]: p for p in report["phases"]}
        cold = phases["cold"]["samples"][0]
        for name, phase in phases.items():
            if name in ("cold",) or "warmup" in name:
                continue
            samples = phase["samples"]
            rows.append(
                {
                    "route": name,
                    "function": logical_id,
                    "n": len(samples),
                    "statuses": sorted({s["status"] for s in samples}),
                    "p50": pct([s["wall"] for s in samples], 0.50) * 1000,
                    "p99": pct([s["wall"] for s in samples], 0.99) * 1000,
                    "cpu50": pct([s["cpu"] for s in samples], 0.50) * 1000,
                    "own50": pct([s["wall"] - s["remote"] for s in samples], 0.50) * 1000,
                    "own99": pct([s["wall"] - s["remote"] for s in samples], 0.99) * 1000,
                    "wechat": statistics.median(s.get("wechat", 0) for s in samples),
                    "dynamodb": statistics.median(s.get("dynamodb", 0) for s in samples),
                    "dynamodb_max": max(s.get("dynamodb", 0) for s in samples),
                    "rru": statistics.median(s["rru"] for s in samples if "rru" in s),
                    "wru": statistics.median(s["wru"] for s in samples if "wru" in s),
                    "secrets_warm": statistics.median(s.get("secrets-manager", 0) for s in samples),
                    "operations": statistics.mode(" ".join(s.get("operations", [])) for s in samples),
                    "cold": cold,
                }
            )
    return rows


def lambda_cost(duration_ms: float, memory_mb: int) -> float:
    """Lambda's cost of one invocation: billed duration rounds up to 1 ms."""
    billed = math.ceil(duration_ms)
    return billed / 1000 * memory_mb / 1024 * PRICES["lambda_arm64_gb_second"]


def modelled_ms(cpu_ms: float, row: dict, memory_mb: int) -> float:
    """Duration on Lambda: our CPU time stretched by the CPU share of the memory, plus real round trips."""
    stretch = max(1.0, ASSUMPTIONS["full_vcpu_mb"] / memory_mb)
    waits = (
        row["dynamodb"] * ASSUMPTIONS["dynamodb_ms"]
        + row["wechat"] * ASSUMPTIONS["wechat_ms"]
        + row["secrets_warm"] * ASSUMPTIONS["secrets_manager_ms"]
    )
    return cpu_ms * stretch + waits


def cost_per_million(row: dict, duration_ms: float, memory_mb: int, cold_ms: float, cold_secrets: float) -> dict:
    rate = ASSUMPTIONS["cold_start_rate"]
    secrets_calls = row["secrets_warm"] + rate * cold_secrets
    parts = {
        "http_api": PRICES["http_api_per_million"],
        "lambda_requests": PRICES["lambda_per_million"],
        "lambda_compute": 1e6 * (lambda_cost(duration_ms, memory_mb) + rate * lambda_cost(cold_ms, memory_mb)),
        "dynamodb": row["rru"] * PRICES["dynamodb_rru_per_million"] + row["wru"] * PRICES["dynamodb_wru_per_million"],
        "secrets": 1e6 * secrets_calls / 10_000 * PRICES["secrets_per_10k_calls"],
    }
    parts["total"] = sum(parts.values())
    return parts


def fmt_bytes(n: int) -> str:
    return f"{n / 1024:,.1f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:,.1f} MiB"


def table(header: list[str], rows: list[list]) -> str:
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(r):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"

    return "\n".join(
        [line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in cells[1:]]
    )


def main() -> int:
    if not (LAYER_DIR / "wxlogin").is_dir():
        print("no build: run `make build` first (make bench does)", file=sys.stderr)
        return 2
    started, load_before = time.monotonic(), os.getloadavg()[0]
    stack = Stack()
    try:
        with tempfile.TemporaryDirectory(prefix="wxlogin-bench-") as tmp:
            box = Sandbox(stack, Path(tmp))
            warm = warm_runs(stack, box)
            # The floor writes its bytecode to the "full" cache too, so no case pays for compiling boto3.
            box.run(FLOOR, box.environment(None, "full", write_bytecode=True))
            cold = cold_runs(stack, box, warm["token"])
    finally:
        stack.stop()
    sizes = {name: artifact_size(BUILD / name) for name in FUNCTIONS}
    sizes["SharedLayer"] = artifact_size(BUILD / "SharedLayer")
    report(stack.template, warm, cold, sizes, time.monotonic() - started, (load_before, os.getloadavg()[0]))
    return 0


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def report(template: dict, warm: dict, cold: dict, sizes: dict, elapsed: float, loads: tuple) -> None:
    rows = route_stats(warm)
    by_route = {r["route"]: r for r in rows}
    checks: list[tuple[bool, str]] = []
    out = [
        "# wxlogin benchmark",
        f"Python {platform.python_version()} on {platform.machine()} ({cpu_model()}, {os.cpu_count()} CPUs); "
        f"{REPS} cold starts per case, {WARM_N} warm requests per route; {elapsed:.0f} s; "
        f"load average {loads[0]:.2f} before, {loads[1]:.2f} after (other work on the machine inflates wall times).",
        "DynamoDB and Secrets Manager: moto's server; WeChat: the simulator; both on 127.0.0.1. X-Ray tracing on "
        "(no daemon: the SDK's UDP datagrams go nowhere), every request sampled.",
    ]

    # Cold start.
    floor = cold[("floor", "full")]

    def instructions(case: dict) -> tuple[str, str, float | None]:
        if "instructions" not in case or "instructions" not in floor:
            return "n/a", "", None
        ratio = case["instructions"] / floor["instructions"]
        return f"{case['instructions'] / 1e6:,.0f} M", f"{ratio:.2f}", ratio

    out.append("\n## Cold start: fresh interpreter to the end of its first request (median)")
    cold_rows = [
        ['floor: `import boto3; boto3.client("dynamodb")`', ms(floor["total"]), "1.00", ms(floor["cpu"]), "1.00"]
        + list(instructions(floor)[:2])
        + ["", "", ""]
    ]
    reference = cold[("powertools", "full")]
    cold_rows.append(
        ["reference: floor + Powertools Logger, Metrics, Tracer (.pyc)", ms(reference["total"])]
        + [f"{reference['total'] / floor['total']:.2f}", ms(reference["cpu"]), f"{reference['cpu'] / floor['cpu']:.2f}"]
        + list(instructions(reference)[:2])
        + ["", "", ""]
    )
    for name in FUNCTIONS:
        for mode, label in (("runtime", "layer as built"), ("full", "layer with .pyc")):
            c = cold[(name, mode)]
            ratio, cpu_ratio = c["total"] / floor["total"], c["cpu"] / floor["cpu"]
            instr, instr_x, instr_ratio = instructions(c)
            cold_rows.append(
                [f"{name}, {label}", ms(c["total"]), f"{ratio:.2f}", ms(c["cpu"]), f"{cpu_ratio:.2f}", instr, instr_x]
                + [ms(c["import"]), ms(c["first"]), ",".join(map(str, c["statuses"]))]
            )
            also = f"CPU {cpu_ratio:.2f}x" + (f", instructions {instr_ratio:.2f}x" if instr_ratio else "")
            checks.append(
                (
                    ratio <= COLD_TARGET,
                    f"cold start {name}, {label}: {ratio:.2f}x the floor ({also}; target <= {COLD_TARGET}x)",
                )
            )
    header = ["case", "wall", "x floor", "CPU", "x floor", "instructions", "x floor", "import", "first request"]
    out.append(table([*header, "status"], cold_rows))
    out.append(
        "wall: spawn to the end of the first request; CPU: the process's CPU time to that point; instructions: "
        f"user-space instructions to that point (perf stat, median of {INSTRUCTION_REPS}), which other work on the "
        "machine does not change; import: spawn to handler imported; first request: the rest, remote calls "
        "included. The reference row is the libraries every function loads, the X-Ray SDK among them, with no code "
        "of ours and no request.\n'as built': with the bytecode the build ships (layers/wxlogin/Makefile compiles "
        "the layer, as /opt is read-only on Lambda); 'with .pyc': every module precompiled, the function's too."
    )

    # Warm latency.
    out.append(f"\n## Warm latency, in process ({WARM_N} requests per route; {DESTRUCTIVE_N} for one-shot routes)")
    out.append(
        table(
            ["route", "function", "n", "p50", "p99", "own p50", "own p99", "CPU p50", "status"],
            [
                [
                    r["route"],
                    r["function"],
                    r["n"],
                    f"{r['p50']:.1f} ms",
                    f"{r['p99']:.1f} ms",
                    f"{r['own50']:.1f} ms",
                    f"{r['own99']:.1f} ms",
                    f"{r['cpu50']:.1f} ms",
                    ",".join(map(str, r["statuses"])),
                ]
                for r in rows
            ],
        )
    )
    out.append(
        "p50/p99: wall time of the invocation, the loopback round trips to moto and the simulator included (moto "
        "slows as its table grows); own: the same less the time from sending each remote request to its answer; "
        "CPU: the process's CPU time."
    )

    # Remote calls.
    out.append("\n## Remote calls per request on a warm instance (median; counted inside the function's process)")
    call_rows = []
    for r in rows:
        ddb = f"{r['dynamodb']:g}" + (f" (max {r['dynamodb_max']})" if r["dynamodb_max"] != r["dynamodb"] else "")
        call_rows.append(
            [
                r["route"],
                f"{r['wechat']:g}",
                ddb,
                r["operations"] or "-",
                f"{r['rru']:g}",
                f"{r['wru']:g}",
                f"{r['secrets_warm']:g}",
            ]
        )
    out.append(table(["route", "WeChat", "DynamoDB", "operations", "RRU", "WRU", "Secrets Manager"], call_rows))
    out.append("\nThe first request of a cold instance:")
    cold_calls = []
    for logical_id, rep in warm["reports"].items():
        phase = rep["phases"][0]
        s = phase["samples"][0]
        cold_calls.append(
            [
                logical_id,
                phase.get("route", ""),
                s.get("wechat", 0),
                s.get("dynamodb", 0),
                s.get("secrets-manager", 0),
                s["status"],
            ]
        )
    out.append(table(["function", "route", "WeChat", "DynamoDB", "Secrets Manager", "status"], cold_calls))
    seen = "; ".join(f"{k} {a} counted, {b} at the simulator" for k, (a, b) in warm["wechat_check"].items())
    out.append(
        f"WeChat calls checked against the simulator's /_sim/stats: {seen}. DynamoDB and Secrets Manager calls "
        "are botocore's before-send events (one per HTTP request, retries included). RRU/WRU are estimated from "
        "item sizes by DynamoDB's on-demand rules (moto reports no real capacity); a write to a user with a "
        "unionid also writes the unionid-index (not counted; the users here have none)."
    )
    login = by_route.get("POST /v1/auth/login")
    if login:
        checks.append((login["wechat"] == 1, f"login: {login['wechat']:g} WeChat call (target 1)"))
        checks.append(
            (login["dynamodb_max"] <= 2, f"login: at most {login['dynamodb_max']} DynamoDB requests (target <= 2)")
        )
        checks.append(
            (
                login["secrets_warm"] == 0,
                f"login: {login['secrets_warm']:g} Secrets Manager calls on a warm instance (target 0)",
            )
        )
    me = by_route.get("GET /v1/me")
    if me:
        checks.append(
            (
                me["dynamodb_max"] == 1,
                f"protected read (GET /v1/me): at most {me['dynamodb_max']} DynamoDB request (target 1)",
            )
        )
    dec = by_route.get("POST /v1/profile/decrypt")
    if dec:
        checks.append(
            (
                dec["dynamodb_max"] <= 2,
                f"profile decryption: at most {dec['dynamodb_max']} DynamoDB requests (target <= 2)",
            )
        )
    bad = [r["route"] for r in rows if any(status >= 400 for status in r["statuses"])]
    checks.append((not bad, "every measured request answered 2xx" + (f" (not: {', '.join(bad)})" if bad else "")))

    # Sizes.
    out.append("\n## Package size (each build folder zipped as `sam deploy` uploads it)")
    size_rows = []
    for name, s in sizes.items():
        top = sorted(s["packages"].items(), key=lambda kv: -kv[1])[:4] if name == "SharedLayer" else []
        size_rows.append(
            [
                name,
                s["files"],
                fmt_bytes(s["raw"]),
                fmt_bytes(s["zipped"]),
                ", ".join(s["forbidden"]) or "none",
                ", ".join(f"{k} {fmt_bytes(v)}" for k, v in top),
            ]
        )
        if name != "SharedLayer":
            checks.append(
                (
                    max(s["zipped"], s["raw"]) < FUNCTION_MAX_BYTES,
                    f"{name}: {fmt_bytes(s['raw'])} unzipped, {fmt_bytes(s['zipped'])} zipped (target < 100 KiB)",
                )
            )
        checks.append((not s["forbidden"], f"{name}: no boto3/botocore/s3transfer packaged"))
    out.append(table(["artifact", "files", "unzipped", "zipped", "boto3/botocore", "largest packages"], size_rows))

    # Cost at the template's memory.
    memory = memory_size(template, "LoginFunction")
    cold_ms = {name: cold[(name, "runtime")]["total"] * 1000 for name in FUNCTIONS}
    cold_secrets = {
        lid: rep["phases"][0]["samples"][0].get("secrets-manager", 0) for lid, rep in warm["reports"].items()
    }
    out.append(f"\n## Cost per million requests: us-east-1, arm64, {memory} MB (the template's MemorySize)")
    cost_rows = []
    for route in COST_ROUTES:
        r = by_route.get(route)
        if not r:
            continue
        c = cost_per_million(r, r["p50"], memory, cold_ms[r["function"]], cold_secrets[r["function"]])
        cost_rows.append(
            [
                route,
                f"{math.ceil(r['p50'])} ms",
                *(
                    f"${c[k]:.3f}"
                    for k in ("http_api", "lambda_requests", "lambda_compute", "dynamodb", "secrets", "total")
                ),
            ]
        )
    out.append(
        table(
            [
                "route",
                "billed (p50)",
                "HTTP API",
                "Lambda requests",
                "Lambda GB-s",
                "DynamoDB",
                "Secrets Manager",
                "total",
            ],
            cost_rows,
        )
    )
    out.append(
        f"Duration: the measured warm p50, rounded up to 1 ms. {ASSUMPTIONS['cold_start_rate']:.0%} of invocations "
        "taken as cold starts, each billing its INIT (the 'as built' cold start) and reading the secret once. "
        "Prices (PRICES in scripts/bench.py): " + ", ".join(f"{k} {v}" for k, v in PRICES.items()) + "."
    )

    # MemorySize.
    out.append(
        f"\n## MemorySize by cost per login (model: CPU time x max(1, {ASSUMPTIONS['full_vcpu_mb']} MB / memory)"
        " + real round trips)"
    )
    out.append(
        f"Round trips from us-east-1 taken as: DynamoDB {ASSUMPTIONS['dynamodb_ms']:g} ms, WeChat "
        f"{ASSUMPTIONS['wechat_ms']:g} ms, Secrets Manager {ASSUMPTIONS['secrets_manager_ms']:g} ms; one core "
        "of this machine taken as one Lambda vCPU (Graviton's speed per core is not measured here)."
    )
    peak_mb = max(rep["peak_rss_kb"] for rep in warm["reports"].values()) / 1024
    headroom = ASSUMPTIONS["memory_headroom"]
    sizing_rows, per_memory = [], {}
    for mb in MEMORY_CHOICES:
        stretch = max(1.0, ASSUMPTIONS["full_vcpu_mb"] / mb)

        def cold_at(case: dict, stretch: float = stretch) -> float:  # the CPU part stretches, waiting does not
            return (case["cpu"] * stretch + max(0.0, case["total"] - case["cpu"])) * 1000

        row, costs = [f"{mb} MB"], {}
        for route in ("POST /v1/auth/login", "GET /v1/me"):
            r = by_route.get(route)
            if not r:
                row += ["-", "-"]
                continue
            duration = modelled_ms(r["cpu50"], r, mb)
            costs[route] = cost_per_million(
                r, duration, mb, cold_at(cold[(r["function"], "runtime")]), cold_secrets[r["function"]]
            )["total"]
            row += [f"{duration:.0f} ms", f"${costs[route]:.3f}"]
        fits = peak_mb * headroom <= mb
        row += [f"{cold_at(cold[('LoginFunction', mode)]) / 1000:.1f} s" for mode in ("runtime", "full")]
        row.append("yes" if fits else "no")
        sizing_rows.append(row)
        if fits and "POST /v1/auth/login" in costs:
            per_memory[mb] = costs["POST /v1/auth/login"]
    out.append(
        table(
            ["memory", "login", "$/1M logins", "GET /v1/me", "$/1M reads", "login cold (as built)", "(with .pyc)"]
            + ["fits"],
            sizing_rows,
        )
    )
    out.append(f"Peak memory (VmHWM) of a function process: {peak_mb:.0f} MB; 'fits' asks for {headroom:g}x that.")
    if per_memory:
        best = min(per_memory, key=per_memory.get)
        now = per_memory.get(memory)
        versus = f" against ${now:.3f} at the template's {memory} MB" if now is not None and best != memory else ""
        out.append(
            f"By cost per login: MemorySize {best} MB (${per_memory[best]:.3f} per million logins{versus}). "
            "A login mostly waits on WeChat and DynamoDB, so more memory buys little speed, while the GB-s price "
            "grows with it; the modelled cold start is the price of going lower."
        )

    out.append("\n## Targets")
    out += [f"- [{'met' if ok else 'NOT MET'}] {text}" for ok, text in checks]
    print("\n".join(out))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


if __name__ == "__main__":
    sys.exit(main())
