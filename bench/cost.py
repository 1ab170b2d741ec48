"""The cost model: the bill AWS sends for each route, per region, from the bench's measured figures.

Only here are prices and latencies written, each with where it comes from. A
route's cost per million requests is:

- the HTTP API request and the Lambda request;
- Lambda's GB-seconds at the function's own MemorySize, for a modelled
  duration: the CPU time measured here stretched by the CPU share Lambda gives
  that memory, plus every remote call's round trip from the region (the WeChat
  wait included: Lambda bills a function for the time it waits);
- a share of cold starts (COLD_START_RATE), each billing its INIT phase and
  first request (Lambda bills INIT since 2025-08), a new TLS connection to
  WeChat, and its secret reads;
- warm Secrets Manager re-reads: each instance reads its secrets again when
  its cache ages out (SECRET_MAX_AGE_SECONDS), so per request the calls are
  the secrets read / (requests an instance serves in that age);
- the DynamoDB request units its items cost (measured);
- CloudWatch Logs ingestion: the bytes the function writes at the template's
  log level (measured: log lines and the EMF metric documents), Lambda's own
  START/END/REPORT lines and API Gateway's access log line.
"""

from __future__ import annotations

import math

# Sources of the prices (list prices, on-demand, first tier, arm64): the AWS pricing pages of each service,
# https://aws.amazon.com/lambda/pricing/, https://aws.amazon.com/api-gateway/pricing/,
# https://aws.amazon.com/dynamodb/pricing/on-demand/ (on-demand as cut 50% on 2024-11-01),
# https://aws.amazon.com/secrets-manager/pricing/, https://aws.amazon.com/cloudwatch/pricing/ (Logs, Standard).
# WeChat's access points: api.weixin.qq.com routes to the nearest one; sh./sz./hk.api.weixin.qq.com pin
# Shanghai, Shenzhen or Hong Kong (WeChat's server API domains, developers.weixin.qq.com; the same list is in
# WxJava's WxConsts, github.com/binarywang/WxJava). Round trips between AWS regions: cloudping.co's
# inter-region medians (AWS's own network); from a region to a WeChat access point, the region nearest it.
REGIONS = {
    "ap-southeast-1": {
        "name": "Asia Pacific (Singapore)",
        "prices": {
            "http_api_per_million": 1.00,
            "lambda_per_million": 0.20,
            "lambda_arm64_gb_second": 0.0000133334,
            "dynamodb_wru_per_million": 0.7115,
            "dynamodb_rru_per_million": 0.1423,
            "secrets_per_10k_calls": 0.05,
            "logs_ingestion_per_gb": 0.70,
        },
        # Singapore to WeChat's Hong Kong access point: ap-southeast-1 <-> ap-east-1, about 35 ms (cloudping.co).
        "wechat_rtt_ms": 35.0,
        "wechat_rtt_source": "ap-southeast-1 to ap-east-1 (WeChat's Hong Kong access point), cloudping.co",
    },
    "us-east-1": {
        "name": "US East (N. Virginia)",
        "prices": {
            "http_api_per_million": 1.00,
            "lambda_per_million": 0.20,
            "lambda_arm64_gb_second": 0.0000133334,
            "dynamodb_wru_per_million": 0.625,
            "dynamodb_rru_per_million": 0.125,
            "secrets_per_10k_calls": 0.05,
            "logs_ingestion_per_gb": 0.50,
        },
        # Virginia to Hong Kong: us-east-1 <-> ap-east-1, about 200 ms (cloudping.co); the Pacific is crossed.
        "wechat_rtt_ms": 200.0,
        "wechat_rtt_source": "us-east-1 to ap-east-1 (WeChat's Hong Kong access point), cloudping.co",
    },
}
ASSUMPTIONS = {
    # Lambda gives a function CPU in proportion to memory: one full vCPU at 1769 MB
    # (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html).
    "full_vcpu_mb": 1769,
    # "cold starts typically occur in under 1% of invocations" in production workloads
    # (https://docs.aws.amazon.com/lambda/latest/operatorguide/execution-environments.html). A Mini Program
    # with a few logins an hour sees far more: the table's levers show what doubling it costs.
    "cold_start_rate": 0.01,
    # Round trips inside the region (the same AZ-spread service endpoints; DynamoDB's single-digit ms).
    "dynamodb_ms": 5.0,
    "secrets_manager_ms": 15.0,
    # jscode2session's own time at WeChat, beyond the network round trip (not published; an assumption).
    "wechat_server_ms": 20.0,
    # A cold instance opens its TLS connection to WeChat: TCP and a TLS 1.2 handshake, 3 round trips more.
    "wechat_new_connection_round_trips": 3,
    # Requests one warm instance serves per second: sets how many requests share one secret re-read.
    "instance_requests_per_second": 1.0,
    # Lambda's START, END and REPORT lines per invocation (text format; about 90 + 60 + 140 bytes).
    "platform_log_bytes": 290,
    # Memory a size must have over the function process's measured peak: the runtime client, larger payloads.
    "memory_headroom": 2.0,
    # The memory a function gets is the cheapest whose modelled cold start (INIT and first request) stays
    # within this: a user's first login should not wait much more than a second for our code.
    "cold_start_budget_ms": 1000.0,
}
MEMORY_CHOICES = (128, 256, 512, 768, 1024, 1769)
LOGIN = "POST /v1/auth/login"
KEYED_LOGIN = "POST /v1/auth/login (Idempotency-Key)"
# The route each function is sized by: what most of its invocations are.
SIZING_ROUTE = {
    "LoginFunction": KEYED_LOGIN,
    "ProfileFunction": "POST /v1/profile/decrypt",
    "AccountFunction": "GET /v1/me",
}
PARTS = ("http_api", "lambda_requests", "lambda_compute", "dynamodb", "secrets", "logs")


def stretch(memory_mb: int) -> float:
    return max(1.0, ASSUMPTIONS["full_vcpu_mb"] / memory_mb)


def wechat_wait_ms(region: dict) -> float:
    return ASSUMPTIONS["wechat_server_ms"] + region["wechat_rtt_ms"]


def modelled_ms(route: dict, memory_mb: int, region: dict) -> float:
    """A warm request on Lambda: our CPU time stretched by the memory's CPU share, plus real round trips."""
    waits = (
        route["dynamodb"] * ASSUMPTIONS["dynamodb_ms"]
        + route["wechat"] * wechat_wait_ms(region)
        + route["secrets_warm"] * ASSUMPTIONS["secrets_manager_ms"]
    )
    return route["cpu50"] * stretch(memory_mb) + waits


def cold_ms(cold: dict, memory_mb: int, region: dict, wechat_calls: float) -> float:
    """A cold start (INIT and first request) on Lambda: its CPU stretches with the memory, its loopback
    waiting stays, and a first WeChat call also opens its connection across the region's round trip."""
    measured = (cold["cpu"] * stretch(memory_mb) + max(0.0, cold["total"] - cold["cpu"])) * 1000
    new_connection = ASSUMPTIONS["wechat_new_connection_round_trips"] * region["wechat_rtt_ms"]
    return measured + wechat_calls * (wechat_wait_ms(region) + new_connection) + ASSUMPTIONS["secrets_manager_ms"]


def gb_seconds_cost(duration_ms: float, memory_mb: int, prices: dict) -> float:
    """Lambda's duration charge of one invocation: billed duration rounds up to 1 ms."""
    return math.ceil(duration_ms) / 1000 * memory_mb / 1024 * prices["lambda_arm64_gb_second"]


def cost_per_million(
    route: dict,
    memory_mb: int,
    region: dict,
    cold: dict,
    cold_secrets: float,
    secret_max_age_s: int,
    access_log_bytes: int,
    assumptions: dict | None = None,
) -> dict:
    """Dollars per million requests of a route (its row of measured figures), by part and in total."""
    a = {**ASSUMPTIONS, **(assumptions or {})}
    prices, rate = region["prices"], a["cold_start_rate"]
    duration = modelled_ms(route, memory_mb, region)
    first = cold_ms(cold, memory_mb, region, route["wechat"])
    requests_per_age = max(1.0, a["instance_requests_per_second"] * secret_max_age_s) if secret_max_age_s else 1.0
    secrets_calls = route["secrets_warm"] + rate * cold_secrets + (1 - rate) * cold_secrets / requests_per_age
    logged = route["log_bytes"] + a["platform_log_bytes"] + access_log_bytes
    parts = {
        "http_api": prices["http_api_per_million"],
        "lambda_requests": prices["lambda_per_million"],
        "lambda_compute": 1e6
        * (
            (1 - rate) * gb_seconds_cost(duration, memory_mb, prices) + rate * gb_seconds_cost(first, memory_mb, prices)
        ),
        "dynamodb": route["rru"] * prices["dynamodb_rru_per_million"]
        + route["wru"] * prices["dynamodb_wru_per_million"],
        "secrets": 1e6 * secrets_calls / 10_000 * prices["secrets_per_10k_calls"],
        "logs": logged / 1e3 * prices["logs_ingestion_per_gb"],  # a million requests of `logged` bytes, per GB
    }
    parts["total"] = sum(parts.values())
    parts["duration_ms"] = duration
    parts["cold_ms"] = first
    parts["log_bytes"] = logged
    return parts


def memory_sizing(route: dict, region: dict, cold: dict, cold_secrets: float, peak_mb: float, **billing) -> dict:
    """One function at each memory size: its sizing route's cost and modelled durations; the size to use."""
    rows = []
    for mb in MEMORY_CHOICES:
        c = cost_per_million(route, mb, region, cold, cold_secrets, **billing)
        fits = peak_mb * ASSUMPTIONS["memory_headroom"] <= mb
        rows.append(
            {"memory_mb": mb, "ms": c["duration_ms"], "cold_ms": c["cold_ms"], "total": c["total"], "fits": fits}
        )
    within = [r for r in rows if r["fits"] and r["cold_ms"] <= ASSUMPTIONS["cold_start_budget_ms"]]
    if within:
        best = min(within, key=lambda r: (round(r["total"], 3), r["memory_mb"]))
    else:  # nothing meets the budget: the fastest cold start that fits
        best = min((r for r in rows if r["fits"]), key=lambda r: r["cold_ms"])
    return {"rows": rows, "recommended_mb": best["memory_mb"]}


def levers(route: dict, memory_mb: int, region_id: str, cold: dict, cold_secrets: float, **billing) -> list[dict]:
    """What moves a route's cost, each change alone, largest saving first."""
    region = REGIONS[region_id]
    base = cost_per_million(route, memory_mb, region, cold, cold_secrets, **billing)["total"]
    quiet = {**route, "log_bytes": 0}
    near_wechat = {**region, "wechat_rtt_ms": 2.0}
    changes = [
        ("MemorySize halved", cost_per_million(route, memory_mb // 2, region, cold, cold_secrets, **billing)),
        ("MemorySize doubled", cost_per_million(route, memory_mb * 2, region, cold, cold_secrets, **billing)),
        (
            "function logs nothing (POWERTOOLS_LOG_LEVEL above INFO, no metrics)",
            cost_per_million(quiet, memory_mb, region, cold, cold_secrets, **billing),
        ),
        (
            "WeChat 2 ms away (Hong Kong, next to WeChat's access point), same prices",
            cost_per_million(route, memory_mb, near_wechat, cold, cold_secrets, **billing),
        ),
        (
            "cold starts at 2x the rate",
            cost_per_million(
                route,
                memory_mb,
                region,
                cold,
                cold_secrets,
                assumptions={"cold_start_rate": 2 * ASSUMPTIONS["cold_start_rate"]},
                **billing,
            ),
        ),
        (
            "one DynamoDB write request fewer",
            cost_per_million(
                {**route, "wru": max(0.0, route["wru"] - 1)}, memory_mb, region, cold, cold_secrets, **billing
            ),
        ),
    ]
    for other_id, other in REGIONS.items():
        if other_id != region_id:
            changes.append(
                (f"deployed in {other_id}", cost_per_million(route, memory_mb, other, cold, cold_secrets, **billing))
            )
    rows = [{"lever": name, "total": c["total"], "change": c["total"] - base} for name, c in changes]
    return sorted(rows, key=lambda r: r["change"])


# What operating adds (docs/operating.md), at us-east-1's prices: the events function reading the table's stream
# and the audit trail. EventBridge custom events (PutEvents entries of 64 KB) and DynamoDB standard storage.
OPERATING_PRICES = {"eventbridge_per_million": 1.00, "dynamodb_gb_month": 0.25}


def operating_per_million_logins(invocations_per_login: float = 1.0, events_ms: float = 20.0) -> dict:
    """What operating adds to a million logins (docs/operating.md): the events function reading the table's
    stream (one invocation per login at low traffic, fewer as its 1-second batching window fills; stream reads
    by Lambda are free), the audit entry each login writes, and that entry's storage for the 180 days kept.
    Sign-ups add EventBridge events and an account-id record on top, per million sign-ups."""
    prices = REGIONS["us-east-1"]["prices"]
    entry_gb, months = 200 / 1e9, 180 / 30
    parts = {
        "events_function": invocations_per_login
        * (prices["lambda_per_million"] + 1e6 * gb_seconds_cost(events_ms, 512, prices)),
        "audit_writes": prices["dynamodb_wru_per_million"],
        "audit_storage": 1e6 * entry_gb * months * OPERATING_PRICES["dynamodb_gb_month"],
    }
    parts["total"] = sum(parts.values())
    return parts
