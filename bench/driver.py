"""What `make bench` measures, and in which order.

1. Warm runs: one process per function serves every route of it many times;
   each request is timed and its remote calls and capacity units counted.
   The first request of each is a cold instance's.
2. Cold starts, interleaved: the floor, floor + GetItem, the peers and every
   function with X-Ray tracing Active and PassThrough, each started in a fresh
   interpreter that serves one request, REPS rounds, each round in a rotated
   order so that drift of the machine falls on every case alike.
3. Sizes of what `sam deploy` uploads.

BENCH_REPS and BENCH_WARM_N shrink a run.
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from pathlib import Path

from local.template import load_template

from .lab import APP_SECRET, BUILD, DATA_KEYS_ID, PEERS, ROOT, SECRET_ID, SIGNING_KEYS_ID, Case, Sandbox, Stack, event

REPS = int(os.environ.get("BENCH_REPS", "25"))
WARM_N = int(os.environ.get("BENCH_WARM_N", "200"))
WARMUP_N = 20
DESTRUCTIVE_N = max(10, WARM_N // 2)  # logouts and account deletions use up one session/user each
FUNCTIONS = ("LoginFunction", "ProfileFunction", "AccountFunction")
TRACING_MODES = ("PassThrough", "Active")
# What a deploy gets unless it says otherwise: warm runs, billing and the cold-start goals use it.
DEFAULT_TRACING = load_template(ROOT / "template.yaml")["Parameters"]["XRayTracing"]["Default"]


def function_case(logical_id: str, tracing: str) -> Case:
    return Case(f"{logical_id}, tracing {tracing}", BUILD / logical_id, logical_id, tracing)


FLOOR = Case("floor", PEERS / "floor")
SECRET_IDS = (
    ("PEER_APP_SECRETS_ID", SECRET_ID),
    ("PEER_DATA_KEYS_ID", DATA_KEYS_ID),
    ("PEER_SIGNING_KEYS_ID", SIGNING_KEYS_ID),
)
# Like for like: the same remote calls with the same libraries as the function each stands beside.
LOGIN_PEER = Case(
    "login by hand: botocore + urllib3 + cryptography, same calls", PEERS / "login_botocore", env=SECRET_IDS
)
DECRYPT_PEER = Case("decrypt by hand: botocore + cryptography, same calls", PEERS / "decrypt_botocore", env=SECRET_IDS)
ME_PEER = Case("GET /v1/me by hand: botocore, same call", PEERS / "me_botocore")
# The simpler peers of earlier runs, kept as reference rows: boto3 and requests, one write, no sealing or signing.
GETITEM_PEER = Case("floor + one GetItem", PEERS / "floor_getitem")
WECHATPY_PEER = Case("wechatpy + boto3", PEERS / "wechatpy", env=(("PEER_APP_SECRET", APP_SECRET),))
REQUESTS_SECRET_PEER = Case(
    "requests + cryptography + boto3, AppSecret from Secrets Manager",
    PEERS / "handwritten",
    env=(("PEER_APP_SECRETS_ID", SECRET_ID),),
)
REQUESTS_ENV_PEER = Case(
    "requests + cryptography + boto3, AppSecret from the environment",
    PEERS / "handwritten",
    env=(("PEER_APP_SECRET", APP_SECRET),),
)
PEER_CASES = (
    FLOOR,
    LOGIN_PEER,
    DECRYPT_PEER,
    ME_PEER,
    GETITEM_PEER,
    WECHATPY_PEER,
    REQUESTS_SECRET_PEER,
    REQUESTS_ENV_PEER,
)


# ---------------------------------------------------------------------------------------------------------------
# Warm runs.
def login_plan(stack: Stack) -> list:
    def logins(users, headers=None):
        return [event("POST", "/v1/auth/login", {"code": stack.login_code(u)}, headers=headers) for u in users]

    returning = [f"r{i % WARMUP_N}" for i in range(WARM_N)]
    keys = [{"Idempotency-Key": os.urandom(16).hex()} for _ in range(DESTRUCTIVE_N)]
    keyed = [logins([f"r{i % WARMUP_N}"], key)[0] for i, key in enumerate(keys)]
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
        {"name": "POST /v1/auth/login (Idempotency-Key)", "events": keyed, "count": True},
        # The client's retry of each of those logins (same code, same key): answered from its session item.
        {"name": "POST /v1/auth/login (retry of a keyed login)", "events": keyed, "count": True},
    ]


def profile_plan(stack: Stack, token: str) -> list:
    data = stack.profile_data("r0")
    decrypt = [event("POST", "/v1/profile/decrypt", data, token=token) for _ in range(WARM_N)]

    def phone():
        return event("POST", "/v1/profile/phone", {"code": stack.phone_code("r0")}, token=token)

    return [
        {"name": "cold", "route": "POST /v1/profile/decrypt", "events": decrypt[:1], "count": True},
        {"name": "warmup", "events": decrypt[:WARMUP_N]},
        {"name": "POST /v1/profile/decrypt", "events": decrypt, "count": True},
        {"name": "phone warmup", "events": [phone() for _ in range(5)]},
        {"name": "POST /v1/profile/phone", "events": [phone() for _ in range(WARM_N)], "count": True},
    ]


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


def _tokens(phase: dict) -> list[str]:
    return [json.loads(s["body"])["token"] for s in phase["samples"] if s["status"] == 200]


def warm_runs(stack: Stack, box: Sandbox) -> dict:
    """Each function's warm process (tracing as deployed by default), WeChat calls checked at the simulator."""
    reports, wechat_check = {}, {}

    def run(logical_id, plan):
        before = stack.sim_calls()
        _, report = box.run(function_case(logical_id, DEFAULT_TRACING), "warm", plan, write_bytecode=True)
        counted = sum(s.get("wechat", 0) for p in report["phases"] for s in p["samples"])
        wechat_check[logical_id] = (counted, stack.sim_calls() - before)
        reports[logical_id] = report
        return {p["name"]: p for p in report["phases"]}

    login = run("LoginFunction", login_plan(stack))
    token = _tokens(login["cold"])[0]
    returning, new_users = _tokens(login["POST /v1/auth/login"]), _tokens(login["POST /v1/auth/login (new user)"])
    run("ProfileFunction", profile_plan(stack, token))
    run("AccountFunction", account_plan(token, returning[1 : DESTRUCTIVE_N + 1], new_users))
    return {"reports": reports, "wechat_check": wechat_check, "token": token}


# ---------------------------------------------------------------------------------------------------------------
# Cold starts.
def first_request(stack: Stack, case: Case, token: str) -> list:
    """The request a cold instance of the case serves: each does its route's remote work."""
    if case.logical_id == "ProfileFunction" or case == DECRYPT_PEER:
        ev = event("POST", "/v1/profile/decrypt", stack.profile_data("r0"), token=token)
    elif case.logical_id == "AccountFunction" or case == ME_PEER:
        ev = event("GET", "/v1/me", token=token)
    else:  # login, and the peers (the floors ignore it)
        ev = event("POST", "/v1/auth/login", {"code": stack.login_code(f"c{os.urandom(4).hex()}")})
    return [{"name": "cold", "events": [ev]}]


def cold_cases() -> list[Case]:
    return [*PEER_CASES, *(function_case(f, mode) for f in FUNCTIONS for mode in TRACING_MODES)]


def cold_runs(stack: Stack, box: Sandbox, token: str) -> dict[str, list[dict]]:
    """Every case's figures, round by round: round i of every case ran in the same stretch of the machine's time,
    so ratios are taken within a round. The bytecode cache is filled by one discarded run of each case first."""
    cases = cold_cases()
    for case in cases:
        box.run(case, "cold", first_request(stack, case, token), write_bytecode=True)
    runs: dict[str, list] = {case.name: [] for case in cases}
    for rep in range(REPS):
        for case in cases[rep % len(cases) :] + cases[: rep % len(cases)]:  # no case always runs first
            spawned, report = box.run(case, "cold", first_request(stack, case, token))
            runs[case.name].append(
                {
                    "total": report["t_first"] - spawned,
                    "import": report["t_import"] - spawned,
                    "first": report["t_first"] - report["t_import"],
                    "cpu": report["cpu"],
                    "status": report["status"],
                    "modules": report["modules"],
                }
            )
    return runs


# ---------------------------------------------------------------------------------------------------------------
# Sizes of what `sam deploy` uploads: each folder zipped, the layer's shipped bytecode included.
def artifact_size(folder: Path) -> dict:
    files, raw, packages = 0, 0, {}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = path.relative_to(folder)
            files += 1
            raw += path.stat().st_size
            top = rel.parts[1] if rel.parts[0] == "python" and len(rel.parts) > 1 else rel.parts[0]
            name = top.split("-")[0].removesuffix(".py")  # a package and its dist-info together
            packages[name] = packages.get(name, 0) + path.stat().st_size
            archive.write(path, str(rel))
    forbidden = sorted(p for p in packages if p in ("boto3", "botocore", "s3transfer"))
    return {"files": files, "raw": raw, "zipped": len(buffer.getvalue()), "packages": packages, "forbidden": forbidden}


def measure(tmp: Path) -> dict:
    """Everything the report shows, from one run."""
    started, load_before = time.monotonic(), os.getloadavg()[0]
    stack = Stack()
    try:
        box = Sandbox(stack, tmp)
        warm = warm_runs(stack, box)
        cold = cold_runs(stack, box, warm["token"])
    finally:
        stack.stop()
    sizes = {name: artifact_size(BUILD / name) for name in (*FUNCTIONS, "SharedLayer")}
    return {
        "template": stack.template,
        "warm": warm,
        "cold": cold,
        "sizes": sizes,
        "elapsed": time.monotonic() - started,
        "load": (load_before, os.getloadavg()[0]),
    }
