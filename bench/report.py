"""What one run's figures say: the tables `make bench` prints, the goals it checks and the JSON it writes."""

from __future__ import annotations

import math
import os
import platform
import re
import statistics
import tomllib

from local.template import function_environment

from . import cost
from .driver import (
    DECRYPT_PEER,
    DEFAULT_TRACING,
    DESTRUCTIVE_N,
    FLOOR,
    FUNCTIONS,
    GETITEM_PEER,
    LOGIN_PEER,
    ME_PEER,
    REPS,
    REQUESTS_ENV_PEER,
    REQUESTS_SECRET_PEER,
    TRACING_MODES,
    WARM_N,
    WECHATPY_PEER,
    function_case,
)
from .lab import ROOT, memory_size

# Each function against the peer doing the same remote work with the same libraries (the goal), then the
# simpler peers kept as reference rows: wechatpy, requests + boto3, the floor + one GetItem.
COMPARISONS = {
    "LoginFunction": (LOGIN_PEER.name, REQUESTS_SECRET_PEER.name, WECHATPY_PEER.name),
    "ProfileFunction": (DECRYPT_PEER.name, REQUESTS_ENV_PEER.name),
    "AccountFunction": (ME_PEER.name, GETITEM_PEER.name),
}
FUNCTION_MAX_BYTES = 100 * 1024
FALLBACK_SECRET_MAX_AGE = 300  # config.py's default for SECRET_MAX_AGE_SECONDS


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def spread(values: list[float]) -> dict:
    """Median and interquartile range of per-round values."""
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return {"median": round(median, 3), "q1": round(q1, 3), "q3": round(q3, 3), "iqr": round(q3 - q1, 3)}


def verdict(ratio: dict, bound: float = 1.0) -> str:
    """`ahead` or `behind` the bound only when the margin exceeds the interquartile range; else `level`."""
    margin = bound - ratio["median"]
    if abs(margin) <= ratio["iqr"]:
        return "level"
    return "ahead" if margin > 0 else "behind"


def per_round_ratio(rounds: dict, case: str, against: str, field: str = "cpu") -> dict:
    return spread([a[field] / b[field] for a, b in zip(rounds[case], rounds[against], strict=True)])


def route_rows(warm: dict) -> list[dict]:
    """One row per measured route: latency percentiles, remote calls, capacity units and log bytes (medians)."""
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
                    "log_bytes": statistics.median(s.get("log_bytes", 0) for s in samples),
                    "operations": statistics.mode(" ".join(s.get("operations", [])) for s in samples),
                }
            )
    return rows


def default_region() -> str:
    """The region `sam deploy` goes to unless told otherwise: samconfig.toml's default environment."""
    with open(ROOT / "samconfig.toml", "rb") as config:
        return tomllib.load(config)["default"]["global"]["parameters"]["region"]


def access_log_bytes(template: dict, route: str = cost.LOGIN) -> int:
    """API Gateway's access log line for one request: the template's format with typical values."""
    line = template["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"]["Format"]
    values = {
        "requestId": "JcM6xgjLoAMEJ5w=",
        "identity.sourceIp": "203.0.113.10",
        "routeKey": route,
        "status": "200",
        "responseLatency": "85",
        "integrationErrorMessage": "-",
    }
    return len(re.sub(r"\$context\.([A-Za-z.]+)", lambda m: values.get(m.group(1), "-"), line).encode()) + 1


def secret_max_age(template: dict, logical_id: str) -> int:
    return int(function_environment(template, logical_id).get("SECRET_MAX_AGE_SECONDS", FALLBACK_SECRET_MAX_AGE))


def summarise(figures: dict) -> dict:
    """The figures a script reads (written to the JSON file): ratios with spreads, calls, costs, goals."""
    rounds, warm, template = figures["cold"], figures["warm"], figures["template"]
    cold_start = {
        name: {
            "cpu_ms": round(statistics.median(r["cpu"] for r in runs) * 1000, 1),
            "wall_ms": round(statistics.median(r["total"] for r in runs) * 1000, 1),
            "import_ms": round(statistics.median(r["import"] for r in runs) * 1000, 1),
            "first_request_ms": round(statistics.median(r["first"] for r in runs) * 1000, 1),
            "cpu_x_floor": per_round_ratio(rounds, name, FLOOR.name),
            "wall_x_floor": per_round_ratio(rounds, name, FLOOR.name, "total"),
            "modules": max(r["modules"] for r in runs),
            "statuses": sorted({r["status"] for r in runs}),
        }
        for name, runs in rounds.items()
    }
    comparisons = []
    for logical_id, peers in COMPARISONS.items():
        for mode in TRACING_MODES:
            case = function_case(logical_id, mode).name
            for i, peer in enumerate(peers):
                if mode != DEFAULT_TRACING and i:
                    continue  # the other tracing mode only against the like-for-like peer
                cpu = per_round_ratio(rounds, case, peer)
                comparisons.append(
                    {
                        "function": logical_id,
                        "tracing": mode,
                        "peer": peer,
                        "like_for_like": i == 0,
                        "cpu_ratio": cpu,
                        "wall_ratio": per_round_ratio(rounds, case, peer, "total"),
                        "verdict": verdict(cpu),
                    }
                )
    routes = route_rows(warm)
    by_route = {r["route"]: r for r in routes}
    memory = {f: memory_size(template, f) for f in FUNCTIONS}
    cold_by_function = {f: rounds_median(rounds[function_case(f, DEFAULT_TRACING).name]) for f in FUNCTIONS}
    cold_secrets = {
        lid: rep["phases"][0]["samples"][0].get("secrets-manager", 0) for lid, rep in warm["reports"].items()
    }
    region_id = default_region()

    def billing(route: dict) -> dict:
        return {
            "secret_max_age_s": secret_max_age(template, route["function"]),
            "access_log_bytes": access_log_bytes(template, route["route"].split(" (")[0]),
        }

    def bill(route: dict, region: dict, mb: int | None = None) -> dict:
        f = route["function"]
        return cost.cost_per_million(
            route, mb or memory[f], region, cold_by_function[f], cold_secrets[f], **billing(route)
        )

    costs = {
        rid: {r["route"]: {k: round(v, 4) for k, v in bill(r, region).items()} for r in routes}
        for rid, region in cost.REGIONS.items()
    }
    peak_mb = max(rep["peak_rss_kb"] for rep in warm["reports"].values()) / 1024
    sizing = {}
    for f in FUNCTIONS:
        route = by_route.get(cost.SIZING_ROUTE[f])
        if route:
            sizing[f] = cost.memory_sizing(
                route, cost.REGIONS[region_id], cold_by_function[f], cold_secrets[f], peak_mb, **billing(route)
            ) | {"route": route["route"], "memory_mb": memory[f]}
    keyed = by_route.get(cost.KEYED_LOGIN)
    keyed_login = None
    if keyed:
        parts = costs[region_id][cost.KEYED_LOGIN]
        keyed_login = {
            "region": region_id,
            "total": parts["total"],
            "shares": {k: round(parts[k] / parts["total"], 3) for k in cost.PARTS},
            "levers": cost.levers(
                keyed,
                memory["LoginFunction"],
                region_id,
                cold_by_function["LoginFunction"],
                cold_secrets["LoginFunction"],
                **billing(keyed),
            ),
        }
    return {
        "cold_start": cold_start,
        "comparisons": comparisons,
        "routes": routes,
        "region": region_id,
        "cost_per_million": costs,
        "keyed_login": keyed_login,
        "memory_mb": memory,
        "memory_sizing": sizing,
        "peak_rss_mb": round(peak_mb, 1),
        "assumptions": cost.ASSUMPTIONS,
        "regions": {rid: {k: v for k, v in r.items()} for rid, r in cost.REGIONS.items()},
        "goals": goals(comparisons, routes, figures),
        "run": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "cold_start_rounds": REPS,
            "warm_requests_per_route": WARM_N,
            "seconds": round(figures["elapsed"]),
            "load_average": [round(x, 2) for x in figures["load"]],
        },
    }


def rounds_median(runs: list[dict]) -> dict:
    return {field: statistics.median(r[field] for r in runs) for field in ("total", "import", "first", "cpu")}


def goals(comparisons: list[dict], routes: list[dict], figures: dict) -> list[dict]:
    """Each goal `met`, `level` (the margin is within the spread: no claim either way) or `NOT MET`."""
    checks = []

    def check(ok, text: str):
        checks.append({"status": ok if isinstance(ok, str) else ("met" if ok else "NOT MET"), "goal": text})

    # The functions as the template deploys them against the like-for-like peers: a cold start no slower.
    for c in comparisons:
        if c["like_for_like"] and c["tracing"] == DEFAULT_TRACING:
            r = c["cpu_ratio"]
            status = {"ahead": "met", "level": "level", "behind": "NOT MET"}[c["verdict"]]
            check(
                status,
                f"cold start {c['function']} <= its like-for-like peer: {r['median']:.2f}x "
                f"(IQR {r['q1']:.2f}-{r['q3']:.2f}) {c['verdict']}",
            )
    by_route = {r["route"]: r for r in routes}
    login, keyed = by_route.get(cost.LOGIN), by_route.get(cost.KEYED_LOGIN)
    me, phone = by_route.get("GET /v1/me"), by_route.get("POST /v1/profile/phone")
    if login:
        check(login["wechat"] == 1, f"login: {login['wechat']:g} WeChat call (1)")
        check(login["wru"] <= 2, f"login: {login['wru']:g} write units (<= 2)")
        check(login["secrets_warm"] == 0, f"login: {login['secrets_warm']:g} Secrets Manager calls when warm (0)")
    if login and keyed:
        writes = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")

        def counted(route: dict) -> tuple[int, int]:
            operations = route["operations"].split()
            written = sum(operations.count(w) for w in writes)
            return written, len(operations) - written

        (plain_writes, plain_reads), (keyed_writes, keyed_reads) = counted(login), counted(keyed)
        check(
            keyed_writes <= plain_writes and keyed_reads <= plain_reads + 1,
            f"keyed login: {keyed_writes} writes and {keyed_reads} reads (plain login: {plain_writes} writes and "
            f"{plain_reads} reads; at most those plus one read)",
        )
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


def fmt_ratio(r: dict) -> str:
    return f"{r['median']:.2f} ({r['q1']:.2f}-{r['q3']:.2f})"


def render(summary: dict, figures: dict, json_path: str) -> str:
    run = summary["run"]
    out = [
        "# wxlogin benchmark",
        f"Python {run['python']} on {run['machine']}, {run['cpus']} CPUs; {REPS} rounds of cold starts, every case "
        f"once a round in rotated order; {WARM_N} warm requests per route; {run['seconds']} s; load average "
        f"{run['load_average'][0]:.2f} before, {run['load_average'][1]:.2f} after. AWS: moto's server; WeChat: the "
        "simulator; both on 127.0.0.1.",
        "\n## Cold start against like-for-like peers (per-round CPU ratios: median and interquartile range)",
        table(
            ["function", "tracing", "peer", "CPU ratio (IQR)", "wall ratio (IQR)", "verdict"],
            [
                [
                    c["function"],
                    c["tracing"],
                    ("like for like: " if c["like_for_like"] else "reference: ") + c["peer"],
                    fmt_ratio(c["cpu_ratio"]),
                    fmt_ratio(c["wall_ratio"]),
                    c["verdict"],
                ]
                for c in summary["comparisons"]
            ],
        ),
        "Each round starts every case once; a ratio is the function's CPU time (or wall time) over the peer's in the "
        "same round, and the table gives the median over rounds with the interquartile range beside it. `ahead` or "
        "`behind` only when the median's distance from 1.00 exceeds that range; otherwise `level`.",
        "\n## Cold start: a fresh interpreter to the end of its first request (medians over rounds)",
        table(
            ["case", "CPU", "CPU x floor (IQR)", "wall", "import", "first request", "modules", "status"],
            [
                [
                    name,
                    f"{c['cpu_ms']:.0f} ms",
                    fmt_ratio(c["cpu_x_floor"]),
                    f"{c['wall_ms']:.0f} ms",
                    f"{c['import_ms']:.0f} ms",
                    f"{c['first_request_ms']:.0f} ms",
                    c["modules"],
                    ",".join(map(str, c["statuses"])),
                ]
                for name, c in summary["cold_start"].items()
            ],
        ),
        "CPU: the process's CPU time to the end of its first request (other work on the machine moves it least); "
        "wall: from spawn; import: spawn to handler imported; first request: the rest, remote calls included. The "
        'floor is `import boto3; boto3.client("dynamodb")`; the peers are bench/peers/*/app.py. Every case has all '
        "of its bytecode precompiled.",
    ]
    routes = summary["routes"]
    out += [
        f"\n## Warm requests ({WARM_N} per route, {DESTRUCTIVE_N} for one-shot routes; tracing {DEFAULT_TRACING})",
        table(
            [
                "route",
                "p50",
                "p99",
                "own p50",
                "CPU p50",
                "WeChat",
                "DynamoDB",
                "operations",
                "RRU",
                "WRU",
                "Secrets",
                "log bytes",
            ],
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
                    f"{r['log_bytes']:g}",
                ]
                for r in routes
            ],
        ),
        "own: wall less the time from sending each remote request to its answer. Calls are counted inside the "
        "function's process (botocore's events; WeChat below any HTTP library) and checked at the simulator: "
        + "; ".join(f"{k} {a} counted, {b} seen" for k, (a, b) in figures["warm"]["wechat_check"].items())
        + ". RRU/WRU: from the items' sizes by DynamoDB's on-demand rules (transactions count twice). log bytes: "
        "what the function wrote to stdout and stderr (log lines, EMF metrics) at the template's log level.",
    ]
    a, region_id = summary["assumptions"], summary["region"]
    for rid, costs in summary["cost_per_million"].items():
        region = summary["regions"][rid]
        default = " - the default region" if rid == region_id else ""
        out += [
            f"\n## Cost per million requests, {rid} ({region['name']}){default}",
            table(
                [
                    "route",
                    "modelled ms",
                    "HTTP API",
                    "Lambda requests",
                    "Lambda GB-s",
                    "DynamoDB",
                    "Secrets Manager",
                    "Logs",
                    "total",
                ],
                [
                    [route, f"{c['duration_ms']:.0f}", *(f"${c[k]:.3f}" for k in cost.PARTS), f"**${c['total']:.2f}**"]
                    for route, c in costs.items()
                ],
            ),
            f"WeChat round trip {region['wechat_rtt_ms']:g} ms ({region['wechat_rtt_source']}) + "
            f"{a['wechat_server_ms']:g} ms at WeChat.",
        ]
    memory = summary["memory_mb"]
    out += [
        "\nAssumptions (bench/cost.py, with sources): arm64 at each function's MemorySize ("
        + ", ".join(f"{f.removesuffix('Function')} {mb} MB" for f, mb in memory.items())
        + f"); duration = CPU time measured here x max(1, {a['full_vcpu_mb']} MB / memory) + round trips "
        f"(DynamoDB {a['dynamodb_ms']:g} ms, Secrets Manager {a['secrets_manager_ms']:g} ms, WeChat as above); "
        f"{a['cold_start_rate']:.0%} cold starts, each billing INIT and first request plus "
        f"{a['wechat_new_connection_round_trips']} round trips to open WeChat's connection; secrets re-read every "
        f"SECRET_MAX_AGE_SECONDS by an instance serving {a['instance_requests_per_second']:g} request/s; logs: the "
        f"function's measured bytes + {a['platform_log_bytes']} bytes of Lambda's START/END/REPORT + API Gateway's "
        "access log line.",
    ]
    keyed = summary["keyed_login"]
    if keyed:
        names = {
            "http_api": "HTTP API",
            "lambda_requests": "Lambda requests",
            "lambda_compute": "Lambda GB-s",
            "dynamodb": "DynamoDB",
            "secrets": "Secrets Manager",
            "logs": "CloudWatch Logs",
        }
        out += [
            f"\n## A keyed login (as the client sends it) in {keyed['region']}: ${keyed['total']:.2f} per million",
            table(["part", "share"], [[names[k], f"{v:.0%}"] for k, v in keyed["shares"].items()]),
            table(
                ["lever, alone", "total", "change"],
                [[r["lever"], f"${r['total']:.2f}", f"{r['change']:+.2f}"] for r in keyed["levers"]],
            ),
        ]
    out.append(f"\n## MemorySize per function ({region_id}; cost of its main route against its modelled cold start)")
    for f, sizing in summary["memory_sizing"].items():
        out += [
            f"\n{f} ({sizing['route']}): template {sizing['memory_mb']} MB, model recommends "
            f"**{sizing['recommended_mb']} MB**",
            table(
                ["memory", "warm", "cold start", "$/1M", "fits"],
                [
                    [
                        f"{r['memory_mb']} MB",
                        f"{r['ms']:.0f} ms",
                        f"{r['cold_ms'] / 1000:.2f} s",
                        f"${r['total']:.3f}",
                        "yes" if r["fits"] else "no",
                    ]
                    for r in sizing["rows"]
                ],
            ),
        ]
    out += [
        f"\nThe cheapest size whose modelled cold start stays within {a['cold_start_budget_ms'] / 1000:g} s; peak "
        f"memory of a function process: {summary['peak_rss_mb']:.0f} MB ('fits' asks for {a['memory_headroom']:g}x).",
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
        *(f"- [{g['status']}] {g['goal']}" for g in summary["goals"]),
        f"\nFigures written to {json_path}.",
    ]
    return "\n".join(out)
