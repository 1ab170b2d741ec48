"""API Gateway's stage and route throttles for the local gateway, read from template.yaml.

An HTTP API throttles each route with a token bucket: the bucket holds at most ThrottlingBurstLimit requests
and refills at ThrottlingRateLimit per second; a request finding it empty is answered
429 `{"message":"Too Many Requests"}` without reaching the integration. A stage's `DefaultRouteSettings`
apply to each of its routes (every route its own bucket, not one bucket shared by the stage); `RouteSettings`,
keyed by route key ("POST /v1/auth/login"), override them for one route. A route with no setting in either is
limited only by the account's quota (10,000 requests/s, burst 5,000, per Region), which no local load reaches,
so it is not imitated. Here the throttle is checked before the route's JWT authorizer: a throttled request
costs neither a key fetch nor an invocation.
https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-throttling.html
https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from local.template import http_api_routes

RATE, BURST = "ThrottlingRateLimit", "ThrottlingBurstLimit"
# The account's quota per Region: what a route has for a limit its settings leave out.
ACCOUNT_RATE, ACCOUNT_BURST = 10_000.0, 5_000


@dataclass
class TokenBucket:
    """`burst` tokens at most, refilled at `rate` per second; each request takes one or is refused."""

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _tokens: float = field(init=False)
    _updated: float = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self):
        if self.rate < 0 or self.burst < 0:
            raise ValueError(f"throttle limits cannot be negative (rate {self.rate}, burst {self.burst})")
        self._tokens, self._updated = float(self.burst), self.clock()

    def take(self) -> bool:
        with self._lock:
            now = self.clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


def _limits(settings: dict, resolve: Callable[[object], str | None], where: str) -> dict[str, float]:
    limits = {}
    for name in (RATE, BURST):
        if name not in settings:
            continue
        value = resolve(settings[name])
        if value is None:  # !Ref AWS::NoValue: not set
            continue
        try:
            limits[name] = float(value)
        except ValueError:
            raise ValueError(f"{where}.{name} is not a number: {value!r}") from None
    return limits


def route_throttles(
    template: dict, resolve: Callable[[object], str | None], clock: Callable[[], float] = time.monotonic
) -> dict[tuple[str, str], TokenBucket]:
    """A bucket per (METHOD, path) of every HttpApi route that its stage or route settings throttle."""
    resources = template.get("Resources", {})
    buckets = {}
    for api_id, method, path, _function in http_api_routes(template):
        props = resources.get(api_id, {}).get("Properties", {})
        route_key = f"{method} {path}"
        limits = _limits(props.get("DefaultRouteSettings") or {}, resolve, f"{api_id}.DefaultRouteSettings")
        route_settings = (props.get("RouteSettings") or {}).get(route_key) or {}
        limits.update(_limits(route_settings, resolve, f"{api_id}.RouteSettings[{route_key}]"))
        if not limits:
            continue
        # One limit without the other: API Gateway leaves the other at the account's figure.
        rate = limits.get(RATE, ACCOUNT_RATE)
        burst = int(limits.get(BURST, ACCOUNT_BURST))
        buckets[(method, path)] = TokenBucket(rate, burst, clock)
    return buckets
