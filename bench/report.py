"""What one run's figures say: the tables `make bench` prints, the goals it checks and the JSON it writes."""

from __future__ import annotations

import math
import os
import platform
import statistics

from . import cost
from .driver import (
    DEFAULT_TRACING,
    DESTRUCTIVE_N,
    FLOOR,
    FUNCTIONS,
    PEER_CASES,
    REPS,
    WARM_N,
    function_case,
)
from .lab import memory_size

ACCOUNT_BOUND = 1.15  # x floor: the account routes make one DynamoDB request, like floor + one GetItem
# Each function against the leanest peer doing the same remote work; the Account function against the floor.
COLD_GOALS = {
    "LoginFunction": PEER_CASES[3].name,  # requests + cryptography + boto3, AppSecret from Secrets Manager
    "ProfileFunction": PEER_CASES[4].name,  # the same, AppSecret from the environment
}
FUNCTION_MAX_BYTES = 100 * 1024


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def route_rows(warm: dict) -> list[dict]:
    """One row per measured route: latency percentiles, remote calls and capacity units (medians)."""
    rows = []
    for logical_id, report in warm["reports"].items():
        for phase in report["phases"]:
            if phase["name"] == "cold" or "warmup" in phase["name"]:
                continue
            samples = phase["samples"]
            rows.append(
                {
                    "route": phase["name"],
                    "function": logical_id,
                    "n": len(samples),
                    "statuses": sorted({s["status"] for s in samples}),
                    "p50": pct([s["wall"] for s in samples], 0.50) * 1000,
                    "p99": pct([s["wall"] for s in samples], 0.99) * 1000,
                    "own50": pct([s["wall"] - s["remote"] for s in samples], 0.50) * 1000,
                    "cpu50": pct([s["cpu"] for s in samples], 0.50) * 1000,
                    "wechat": statistics.median(s.get("wechat", 0) for s in samples),
                    "dynamodb": statistics.median(s.get("dynamodb", 0) for s in samples),
                    "dynamodb_max": max(s.get("dynamodb", 0) for s in samples),
                    "rru": statistics.median(s["rru"] for s in samples if "rru" in s),
                    "wru": statistics.median(s["wru"] for s in samples if "wru" in s),
                    "secrets_warm": statistics.median(s.get("secrets-manager", 0) for s in samples),
                    "operations": statistics.mode(" ".join(s.get("operations", [])) for s in samples),
                }
            )
    return rows


def summarise(figures: dict) -> dict:
    """The figures a script reads (written to the JSON file): ratios, calls, costs, goals."""
    cold, warm, template = figures["cold"], figures["warm"], figures["template"]
    floor = cold[FLOOR.name]
    cold_start = {
        name: {
            "cpu_ratio": round(case["cpu"] / floor["cpu"], 3),
            "wall_ratio": round(case["total"] / floor["total"], 3),
            "cpu_ms": round(case["cpu"] * 1000, 1),
            "wall_ms": round(case["total"] * 1000, 1),
            "import_ms": round(case["import"] * 1000, 1),
            "first_request_ms": round(case["first"] * 1000, 1),
            "modules": case["modules"],
            "statuses": case["statuses"],
        }
        for name, case in cold.items()
    }
    routes = route_rows(warm)
    memory = memory_size(template, "LoginFunction")
    # Billed as deployed by default.
    cold_by_function = {f: cold[function_case(f, DEFAULT_TRACING).name] for f in FUNCTIONS}
    cold_secrets = {
        lid: rep["phases"][0]["samples"][0].get("secrets-manager", 0) for lid, rep in warm["reports"].items()
    }
    costs = cost.route_costs(routes, memory, cold_by_function, cold_secrets)
    peak_mb = max(rep["peak_rss_kb"] for rep in warm["reports"].values()) / 1024
    sizing = cost.memory_sizing({r["route"]: r for r in routes}, cold_by_function, cold_secrets, peak_mb)
    return {
        "cold_start": cold_start,
        "routes": routes,
        "cost_per_million": {route: {k: round(v, 4) for k, v in c.items()} for route, c in costs.items()},
        "memory_mb": memory,
        "memory_sizing": sizing,
        "peak_rss_mb": round(peak_mb, 1),
        "goals": goals(cold_start, routes, costs, figures),
        "run": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "cold_start_reps": REPS,
            "warm_requests_per_route": WARM_N,
            "seconds": round(figures["elapsed"]),
            "load_average": [round(x, 2) for x in figures["load"]],
        },
    }


def goals(cold_start: dict, routes: list[dict], costs: dict, figures: dict) -> list[dict]:
    checks = []

    def check(ok: bool, text: str):
        checks.append({"met": bool(ok), "goal": text})

    # The goals hold for a deploy as the template makes it; the other tracing mode is measured, not a goal.
    for logical_id in FUNCTIONS:
        ratio = cold_start[function_case(logical_id, DEFAULT_TRACING).name]["cpu_ratio"]
        if logical_id in COLD_GOALS:
            peer = COLD_GOALS[logical_id]
            bound, against = cold_start[peer]["cpu_ratio"], f"the peer '{peer}'"
        else:
            bound, against = ACCOUNT_BOUND, "the bound"
        check(
            ratio <= bound,
            f"cold start {logical_id}, tracing {DEFAULT_TRACING}: {ratio:.2f}x floor <= {bound:.2f}x ({against})",
        )
    by_route = {r["route"]: r for r in routes}
    login, me, phone = by_route.get(cost.LOGIN), by_route.get("GET /v1/me"), by_route.get("POST /v1/profile/phone")
    if login:
        check(login["wechat"] == 1, f"login: {login['wechat']:g} WeChat call (1)")
        check(login["dynamodb_max"] <= 2, f"login: at most {login['dynamodb_max']} DynamoDB requests (<= 2)")
        check(login["secrets_warm"] == 0, f"login: {login['secrets_warm']:g} Secrets Manager calls when warm (0)")
        total = costs[cost.LOGIN]["total"]
        check(total <= cost.LOGIN_BUDGET, f"login: ${total:.3f} per million (<= ${cost.LOGIN_BUDGET:.2f})")
    if me:
        check(me["dynamodb_max"] == 1, f"GET /v1/me: at most {me['dynamodb_max']} DynamoDB request (1)")
    if phone:
        check(
            phone["dynamodb_max"] <= 2,
            f"POST /v1/profile/phone: at most {phone['dynamodb_max']} DynamoDB requests when warm (<= 2)",
        )
    bad = [r["route"] for r in routes if any(status >= 400 for status in r["statuses"])]
    check(not bad, "every measured request answered 2xx" + (f" (not: {', '.join(bad)})" if bad else ""))
    for name, size in figures["sizes"].items():
        if name != "SharedLayer":
            check(size["raw"] < FUNCTION_MAX_BYTES, f"{name}: {fmt_bytes(size['raw'])} unzipped (< 100 KiB)")
        check(not size["forbidden"], f"{name}: no boto3/botocore/s3transfer packaged")
    return checks


# ---------------------------------------------------------------------------------------------------------------
# Text.
def table(header: list[str], rows: list[list]) -> str:
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(r):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"

    return "\n".join([line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells[1:])])


def fmt_bytes(n: int) -> str:
    return f"{n / 1024:,.1f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:,.1f} MiB"


def render(summary: dict, figures: dict, json_path: str) -> str:
    run = summary["run"]
    out = [
        "# wxlogin benchmark",
        f"Python {run['python']} on {run['machine']}, {run['cpus']} CPUs; {REPS} cold starts per case, interleaved; "
        f"{WARM_N} warm requests per route; {run['seconds']} s; load average {run['load_average'][0]:.2f} before, "
        f"{run['load_average'][1]:.2f} after. AWS: moto's server; WeChat: the simulator; both on 127.0.0.1.",
        "\n## Cold start: a fresh interpreter to the end of its first request (medians)",
        table(
            ["case", "CPU", "x floor", "wall", "x floor", "import", "first request", "modules", "status"],
            [
                [
                    name,
                    f"{c['cpu_ms']:.0f} ms",
                    f"{c['cpu_ratio']:.2f}",
                    f"{c['wall_ms']:.0f} ms",
                    f"{c['wall_ratio']:.2f}",
                    f"{c['import_ms']:.0f} ms",
                    f"{c['first_request_ms']:.0f} ms",
                    c["modules"],
                    ",".join(map(str, c["statuses"])),
                ]
                for name, c in summary["cold_start"].items()
            ],
        ),
        "CPU: the process's CPU time to the end of its first request (the ratio the goals use; other work on the "
        "machine moves it least); wall: from spawn; import: spawn to handler imported; first request: the rest, "
        'remote calls included; modules: loaded at the end. The floor is `import boto3; boto3.client("dynamodb")`; '
        "the peers are bench/peers/*/app.py. Every case has all of its bytecode precompiled.",
    ]
    routes = summary["routes"]
    out += [
        f"\n## Warm requests ({WARM_N} per route, {DESTRUCTIVE_N} for one-shot routes; tracing {DEFAULT_TRACING})",
        table(
            ["route", "p50", "p99", "own p50", "CPU p50", "WeChat", "DynamoDB", "operations", "RRU", "WRU", "Secrets"],
            [
                [
                    r["route"],
                    f"{r['p50']:.1f} ms",
                    f"{r['p99']:.1f} ms",
                    f"{r['own50']:.1f} ms",
                    f"{r['cpu50']:.1f} ms",
                    f"{r['wechat']:g}",
                    f"{r['dynamodb']:g}"
                    + (f" (max {r['dynamodb_max']})" if r["dynamodb_max"] != r["dynamodb"] else ""),
                    r["operations"] or "-",
                    f"{r['rru']:g}",
                    f"{r['wru']:g}",
                    f"{r['secrets_warm']:g}",
                ]
                for r in routes
            ],
        ),
        "own: wall less the time from sending each remote request to its answer. Calls are counted inside the "
        "function's process (botocore's events; WeChat below any HTTP library) and checked at the simulator: "
        + "; ".join(f"{k} {a} counted, {b} seen" for k, (a, b) in figures["warm"]["wechat_check"].items())
        + ". RRU/WRU: from the items' sizes by DynamoDB's on-demand rules (transactions count twice).",
    ]
    parts = ("http_api", "lambda_requests", "lambda_compute", "dynamodb", "secrets", "total")
    out += [
        f"\n## Cost per million requests (us-east-1, arm64, {summary['memory_mb']} MB, billed for the warm p50)",
        table(
            ["route", "HTTP API", "Lambda requests", "Lambda GB-s", "DynamoDB", "Secrets Manager", "total"],
            [[route, *(f"${c[k]:.3f}" for k in parts)] for route, c in summary["cost_per_million"].items()],
        ),
        f"{cost.ASSUMPTIONS['cold_start_rate']:.0%} of invocations taken as cold starts (INIT billed, secret read "
        "once). Prices and assumptions: bench/cost.py.",
        "\n## MemorySize by cost per login (CPU time x max(1, "
        f"{cost.ASSUMPTIONS['full_vcpu_mb']} MB / memory) + round trips from us-east-1)",
        table(
            ["memory", "login", "$/1M logins", "GET /v1/me", "$/1M reads", "login cold", "fits"],
            [
                [f"{row['memory_mb']} MB"]
                + [
                    x
                    for route in (cost.LOGIN, "GET /v1/me")
                    for x in (
                        (f"{row[route]['ms']:.0f} ms", f"${row[route]['per_million']:.3f}")
                        if route in row
                        else ("-", "-")
                    )
                ]
                + [f"{row['login_cold_ms'] / 1000:.1f} s", "yes" if row["fits"] else "no"]
                for row in summary["memory_sizing"]
            ],
        ),
        f"Peak memory of a function process: {summary['peak_rss_mb']:.0f} MB; 'fits' asks for "
        f"{cost.ASSUMPTIONS['memory_headroom']:g}x that.",
        "\n## Package size (each build folder zipped as `sam deploy` uploads it)",
        table(
            ["artifact", "files", "unzipped", "zipped", "largest packages"],
            [
                [
                    name,
                    s["files"],
                    fmt_bytes(s["raw"]),
                    fmt_bytes(s["zipped"]),
                    ", ".join(
                        f"{k} {fmt_bytes(v)}" for k, v in sorted(s["packages"].items(), key=lambda kv: -kv[1])[:4]
                    )
                    if name == "SharedLayer"
                    else "",
                ]
                for name, s in figures["sizes"].items()
            ],
        ),
        "\n## Goals",
        *(f"- [{'met' if g['met'] else 'NOT MET'}] {g['goal']}" for g in summary["goals"]),
        f"\nFigures written to {json_path}.",
    ]
    return "\n".join(out)
