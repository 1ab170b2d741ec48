"""The cost model: list prices, the assumptions that turn measured figures into a Lambda bill, cost per route.

Only here are prices written. A route's cost per million requests is the
HTTP API request, the Lambda request, its GB-seconds (the measured warm
duration; a share of cold starts each billing its INIT), the DynamoDB
request units its items cost and its Secrets Manager calls.
"""

from __future__ import annotations

import math

# us-east-1 list prices (checked 2025; DynamoDB on-demand as cut 2024-11).
PRICES = {
    "http_api_per_million": 1.00,  # API Gateway HTTP API, first 300 M requests a month (per 512 KB)
    "lambda_per_million": 0.20,  # Lambda requests
    "lambda_arm64_gb_second": 0.0000133334,  # Lambda duration on arm64, first 7.5 B GB-s a month
    "dynamodb_wru_per_million": 0.625,  # DynamoDB on-demand write request units
    "dynamodb_rru_per_million": 0.125,  # DynamoDB on-demand read request units
    "secrets_per_10k_calls": 0.05,  # Secrets Manager API calls (plus $0.40 per secret-month, not per request)
    "eventbridge_per_million": 1.00,  # EventBridge custom events published (PutEvents entries of 64 KB)
    "dynamodb_gb_month": 0.25,  # DynamoDB standard table storage
}
# Assumptions of the cost and memory model; the report prints each with the figures it shapes.
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
LOGIN = "POST /v1/auth/login"
LOGIN_BUDGET = 3.00  # dollars per million logins


def lambda_cost(duration_ms: float, memory_mb: int) -> float:
    """Lambda's cost of one invocation: billed duration rounds up to 1 ms."""
    return math.ceil(duration_ms) / 1000 * memory_mb / 1024 * PRICES["lambda_arm64_gb_second"]


def cost_per_million(route: dict, duration_ms: float, memory_mb: int, cold_ms: float, cold_secrets: float) -> dict:
    """Dollars per million requests of a route (its row of measured figures), by part and in total."""
    rate = ASSUMPTIONS["cold_start_rate"]
    secrets_calls = route["secrets_warm"] + rate * cold_secrets
    parts = {
        "http_api": PRICES["http_api_per_million"],
        "lambda_requests": PRICES["lambda_per_million"],
        "lambda_compute": 1e6 * (lambda_cost(duration_ms, memory_mb) + rate * lambda_cost(cold_ms, memory_mb)),
        "dynamodb": route["rru"] * PRICES["dynamodb_rru_per_million"]
        + route["wru"] * PRICES["dynamodb_wru_per_million"],
        "secrets": 1e6 * secrets_calls / 10_000 * PRICES["secrets_per_10k_calls"],
    }
    parts["total"] = sum(parts.values())
    return parts


def operating_per_million_logins(invocations_per_login: float = 1.0, events_ms: float = 20.0) -> dict:
    """What operating adds to a million logins (docs/operating.md): the events function reading the table's
    stream (one invocation per login at low traffic, fewer as its 1-second batching window fills; stream reads
    by Lambda are free), the audit entry each login writes, and that entry's storage for the 180 days kept.
    Sign-ups add EventBridge events and an account-id record on top, per million sign-ups."""
    entry_gb, months = 200 / 1e9, 180 / 30
    parts = {
        "events_function": invocations_per_login * (PRICES["lambda_per_million"] + 1e6 * lambda_cost(events_ms, 512)),
        "audit_writes": PRICES["dynamodb_wru_per_million"],
        "audit_storage": 1e6 * entry_gb * months * PRICES["dynamodb_gb_month"],
    }
    parts["total"] = sum(parts.values())
    return parts


def modelled_ms(cpu_ms: float, route: dict, memory_mb: int) -> float:
    """Duration on Lambda: our CPU time stretched by the CPU share of the memory, plus real round trips."""
    stretch = max(1.0, ASSUMPTIONS["full_vcpu_mb"] / memory_mb)
    waits = (
        route["dynamodb"] * ASSUMPTIONS["dynamodb_ms"]
        + route["wechat"] * ASSUMPTIONS["wechat_ms"]
        + route["secrets_warm"] * ASSUMPTIONS["secrets_manager_ms"]
    )
    return cpu_ms * stretch + waits


def cold_ms_at(cold: dict, memory_mb: int) -> float:
    """A measured cold start at another memory size: its CPU part stretches, its waiting does not."""
    stretch = max(1.0, ASSUMPTIONS["full_vcpu_mb"] / memory_mb)
    return (cold["cpu"] * stretch + max(0.0, cold["total"] - cold["cpu"])) * 1000


def route_costs(routes: list[dict], memory_mb: int, cold: dict, cold_secrets: dict) -> dict[str, dict]:
    """Every measured route at the template's memory, billed for its measured warm p50."""
    return {
        r["route"]: cost_per_million(
            r, r["p50"], memory_mb, cold[r["function"]]["total"] * 1000, cold_secrets[r["function"]]
        )
        for r in routes
    }


def memory_sizing(routes: dict[str, dict], cold: dict, cold_secrets: dict, peak_mb: float) -> list[dict]:
    """A login and a protected read at each memory size, in the modelled durations; whether the size fits."""
    rows = []
    for mb in MEMORY_CHOICES:
        row = {"memory_mb": mb, "fits": peak_mb * ASSUMPTIONS["memory_headroom"] <= mb}
        for route in (LOGIN, "GET /v1/me"):
            r = routes.get(route)
            if r:
                duration = modelled_ms(r["cpu50"], r, mb)
                cost = cost_per_million(
                    r, duration, mb, cold_ms_at(cold[r["function"]], mb), cold_secrets[r["function"]]
                )
                row[route] = {"ms": duration, "per_million": cost["total"]}
        row["login_cold_ms"] = cold_ms_at(cold["LoginFunction"], mb)
        rows.append(row)
    return rows
