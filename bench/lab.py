"""Where the bench runs things: local stand-ins for AWS and WeChat, and fresh interpreters laid out as Lambda's.

AWS is moto's server and WeChat the simulator, both on 127.0.0.1, so round
trips are local. Each case runs in a fresh `python -S -P bench/child.py`
whose PYTHONPATH is what Lambda would give it: the function's folder
(/var/task), then its layer (/opt/python) or, for a peer, the packages a
developer would zip with it, then the runtime's boto3 (/var/runtime). `-S`
keeps the venv's site-packages (moto, awscrt, pyOpenSSL...) off the path.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from local.http_events import http_api_event
from local.template import function_environment, generated_secret_string, load_template, table_create_kwargs
from local.wechat_simulator import DEV_APP_SECRET, DEV_APPID

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / ".aws-sam" / "build"
LAYER_DIR = BUILD / "SharedLayer" / "python"
PEERS = Path(__file__).resolve().parent / "peers"
CHILD = Path(__file__).resolve().parent / "child.py"
APPID, APP_SECRET = DEV_APPID, DEV_APP_SECRET
SESSION_KEY = "AAECAwQFBgcICQoLDA0ODw=="
TABLE = "wxlogin-bench"
SECRET_ID = "wxlogin/bench/app-secrets"  # noqa: S105 - a secret's name, not a secret
DATA_KEYS_ID = "wxlogin/bench/data-keys"
SIGNING_KEYS_ID = "wxlogin/bench/signing-keys"

# What Lambda's python3.13 runtime provides in /var/runtime.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3")
# The layer is built for arm64; these native packages come from this machine's build of the same versions.
NATIVE = ("cryptography", "cffi")
# What the peers' developers would zip with their functions.
PEER_PACKAGES = (
    "requests",
    "certifi",
    "idna",
    "charset_normalizer",
    "cryptography",
    "cffi",
    "wechatpy",
    "optionaldict",
    "xmltodict.py",
)


class Stack:
    """moto's server with the template's table and the AppSecrets secret, and the WeChat simulator."""

    def __init__(self):
        import boto3
        import requests
        from moto.server import ThreadedMotoServer

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
        session.client("dynamodb", endpoint_url=self.endpoint).create_table(
            TableName=TABLE, **table_create_kwargs(self.template)
        )
        secrets = session.client("secretsmanager", endpoint_url=self.endpoint)
        secrets.create_secret(Name=SECRET_ID, SecretString=json.dumps({APPID: APP_SECRET}))
        secrets.create_secret(Name=DATA_KEYS_ID, SecretString=generated_secret_string(self.template, "DataKeys"))
        # Logins sign an access token: the default RS256 key set, as the operator's first step makes it.
        from scripts.signing_keys import new_key_set

        secrets.create_secret(Name=SIGNING_KEYS_ID, SecretString=json.dumps(new_key_set()))

    def stop(self):
        self.simulator.stop()
        self.moto.stop()

    def sim(self, path: str, body: dict) -> dict:
        answer = self.http.post(self.wechat + path, json=body, timeout=5)
        answer.raise_for_status()
        return answer.json()

    def sim_calls(self) -> int:
        return sum(self.http.get(self.wechat + "/_sim/stats", timeout=5).json()["calls"].values())

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

    def phone_code(self, user: str) -> str:
        return self.sim("/_sim/phone-code", {"appid": APPID, "openid": openid_of(user)})["code"]


def openid_of(user: str) -> str:
    return f"oBench{user:0>22}"[:28]


def event(method: str, path: str, body=None, token: str | None = None, headers: dict | None = None) -> dict:
    """An HTTP API event as API Gateway sends it, the route key included."""
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        headers["Content-Type"] = "application/json"
        body = json.dumps(body)
    path, _, query = path.partition("?")
    return http_api_event(method, path, headers=headers, body=body, query=query)


@dataclass(frozen=True)
class Case:
    """One thing to start cold: a function of the template (with a tracing mode) or a peer in bench/peers."""

    name: str
    folder: Path
    logical_id: str | None = None
    tracing: str = "PassThrough"
    env: tuple = ()


def memory_size(template: dict, logical_id: str) -> int:
    own = template["Resources"][logical_id]["Properties"].get("MemorySize")
    return int(own or template.get("Globals", {}).get("Function", {}).get("MemorySize", 128))


class Sandbox:
    """Path overlays and one bytecode cache (PYTHONPYCACHEPREFIX) shared by every case.

    Every case runs with all of its modules precompiled, as the layer ships
    its bytecode (layers/wxlogin/Makefile) and the runtime has its own; the
    cache is filled by one discarded run of each case before any is measured.
    """

    def __init__(self, stack: Stack, tmp: Path):
        self.stack = stack
        self.tmp = tmp
        self.pycache = tmp / "pycache"
        site = Path(next(p for p in sys.path if p.endswith("site-packages")))
        self.overlays = {}
        for name, packages in (("native", NATIVE), ("runtime", RUNTIME_PROVIDED), ("peer", PEER_PACKAGES)):
            folder = self.overlays[name] = tmp / name
            folder.mkdir()
            for package in packages:
                (folder / package).symlink_to(site / package)
            if "cffi" in packages:
                for backend in site.glob("_cffi_backend*"):
                    (folder / backend.name).symlink_to(backend)

    def environment(self, case: Case) -> dict:
        env = {
            "PATH": os.environ["PATH"],
            "LANG": "C.UTF-8",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.stack.endpoint,
            "PYTHONPYCACHEPREFIX": str(self.pycache),
            "TABLE_NAME": TABLE,
            "WECHAT_API_BASE": self.stack.wechat,
            # Lambda's own variables: Powertools' Tracer traces only where LAMBDA_TASK_ROOT is set. With no
            # X-Ray daemon listening, the SDK's UDP datagrams simply go nowhere.
            "LAMBDA_TASK_ROOT": str(case.folder),
            "AWS_LAMBDA_FUNCTION_NAME": case.logical_id or case.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
        }
        if case.logical_id is None:
            layer = [self.overlays["peer"]]
            env.update({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512", "PEER_APPID": APPID})
        else:
            layer = [self.overlays["native"], LAYER_DIR]
            env.update(self._template_environment(case))
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (case.folder, *layer, self.overlays["runtime"]))
        env.update(dict(case.env))
        return env

    def _template_environment(self, case: Case) -> dict:
        template = self.stack.template
        params = {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
        resolved = {
            **params,
            "Table": TABLE,
            "AppSecrets": SECRET_ID,
            "DataKeys": DATA_KEYS_ID,
            "SigningKeys": SIGNING_KEYS_ID,
        }
        resolved["XRayTracing"] = case.tracing
        env = {}
        for name, value in function_environment(template, case.logical_id).items():
            if isinstance(value, dict) and "Ref" in value:
                value = resolved.get(value["Ref"], "")
            env[name] = str(value)
        env.update(
            {
                "TABLE_NAME": TABLE,
                "WECHAT_API_BASE": self.stack.wechat,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_size(template, case.logical_id)),
            }
        )
        if "APP_SECRETS_ID" in env:
            env["APP_SECRETS_ID"] = SECRET_ID
        return env

    def run(self, case: Case, mode: str, plan: list, write_bytecode: bool = False) -> tuple[float, dict]:
        """Spawn a fresh interpreter for the case; answer (when it was spawned, what it reported)."""
        inp, out = self.tmp / "input.json", self.tmp / "output.json"
        inp.write_text(json.dumps(plan))
        out.unlink(missing_ok=True)
        env = {**self.environment(case), "BENCH_MODE": mode, "BENCH_INPUT": str(inp), "BENCH_OUTPUT": str(out)}
        if not write_bytecode:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        spawned = time.monotonic()
        proc = subprocess.run(  # noqa: S603 - our own interpreter running our own code
            [sys.executable, "-S", "-P", str(CHILD)],
            env=env,
            cwd=self.tmp,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=600,
            check=False,
        )
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"{case.name} failed ({proc.returncode}):\n{proc.stderr.decode()[-4000:]}")
        return spawned, json.loads(out.read_text())
