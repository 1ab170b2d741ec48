"""The local gateway's API Gateway rules, without sockets: the template's throttles and parameters, how a
request's headers become payload format 2.0's, and what the gateway answers before any function runs."""

from __future__ import annotations

import json

import pytest

from local.gateway import Gateway, event_headers, function_answer
from local.http_front import Request
from local.template import ParameterError, load_template, parameter_overrides, template_resolver
from local.throttles import TokenBucket, route_throttles

LOGIN = "/v1/auth/login"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_at_once_then_its_rate():
    clock = Clock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.5  # one token back at 2/s
    assert [bucket.take(), bucket.take()] == [True, False]
    clock.now += 60  # refilled, but never beyond the burst
    assert sum(bucket.take() for _ in range(10)) == 3


def test_a_zero_rate_refuses_every_request():
    assert TokenBucket(rate=0, burst=0, clock=Clock()).take() is False


def _template(route_settings: dict | None = None, default: dict | None = None) -> dict:
    api = {"Type": "AWS::Serverless::HttpApi", "Properties": {"StageName": "$default"}}
    if default is not None:
        api["Properties"]["DefaultRouteSettings"] = default
    if route_settings is not None:
        api["Properties"]["RouteSettings"] = route_settings

    def function(method: str, path: str) -> dict:
        event = {"Type": "HttpApi", "Properties": {"ApiId": {"Ref": "Api"}, "Method": method, "Path": path}}
        return {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "x/", "Events": {"E": event}}}

    return {
        "Parameters": {
            "LoginRate": {"Type": "Number", "Default": 5, "MinValue": 0},
            "LoginBurst": {"Type": "Number", "Default": 10, "MinValue": 0},
        },
        "Resources": {"Api": api, "Login": function("POST", LOGIN), "Me": function("GET", "/v1/me")},
    }


def _limits(buckets) -> dict:
    return {route: (bucket.rate, bucket.burst) for route, bucket in buckets.items()}


def test_route_settings_override_the_stage_default_for_their_route_only():
    template = _template(
        route_settings={f"POST {LOGIN}": {"ThrottlingRateLimit": {"Ref": "LoginRate"}, "ThrottlingBurstLimit": 3}},
        default={"ThrottlingRateLimit": 100, "ThrottlingBurstLimit": 200},
    )
    buckets = route_throttles(template, template_resolver(template, {}))
    assert _limits(buckets) == {("POST", LOGIN): (5.0, 3), ("GET", "/v1/me"): (100.0, 200)}
    # Every route its own bucket: the stage default is not one bucket shared by the stage.
    assert buckets[("GET", "/v1/me")] is not buckets[("POST", LOGIN)]


def test_throttle_parameters_take_the_shell_value_over_their_default():
    template = _template(
        route_settings={
            f"POST {LOGIN}": {
                "ThrottlingRateLimit": {"Ref": "LoginRate"},
                "ThrottlingBurstLimit": {"Ref": "LoginBurst"},
            }
        }
    )
    shell = parameter_overrides(template, {"LoginRate": "0.5", "LoginBurst": "2", "PATH": "/bin"})
    assert shell == {"LoginRate": "0.5", "LoginBurst": "2"}
    assert _limits(route_throttles(template, template_resolver(template, shell))) == {("POST", LOGIN): (0.5, 2)}


def test_a_route_without_settings_is_not_throttled_and_one_limit_alone_keeps_the_accounts_other():
    template = _template(route_settings={f"POST {LOGIN}": {"ThrottlingRateLimit": 7}})
    assert _limits(route_throttles(template, template_resolver(template, {}))) == {("POST", LOGIN): (7.0, 5000)}


@pytest.mark.parametrize(
    ("value", "message"),
    [("fast", "LoginRate must be a number, got 'fast'"), ("-1", "LoginRate must be at least 0, got '-1'")],
)
def test_a_parameter_the_template_would_refuse_is_refused_with_its_name(value, message):
    with pytest.raises(ParameterError) as refused:
        parameter_overrides(_template(), {"LoginRate": value})
    assert str(refused.value) == message


def test_the_templates_own_throttles_and_reserved_concurrency_resolve_locally():
    template = load_template()
    resolve = template_resolver(template, {})
    buckets = route_throttles(template, resolve)
    assert ("POST", LOGIN) in buckets and ("GET", "/v1/examples/whoami") in buckets
    reserved = template["Resources"]["LoginFunction"]["Properties"]["ReservedConcurrentExecutions"]
    assert resolve(reserved) is None  # ReservedConcurrency 0 by default: AWS::NoValue, not reserved
    shell = template_resolver(template, parameter_overrides(template, {"ReservedConcurrency": "3"}))
    assert shell(reserved) == "3"


def test_repeated_headers_are_joined_with_commas_in_order_and_cookies_kept_apart():
    headers, cookies = event_headers(
        [
            ("Authorization", "Bearer first"),
            ("accept", "text/plain"),
            ("authorization", "Bearer second"),
            ("cookie", "a=1; b=2"),
            ("Cookie", "c=3"),
        ]
    )
    assert headers == {"authorization": "Bearer first,Bearer second", "accept": "text/plain"}
    assert cookies == ["a=1", "b=2", "c=3"]


class RecordingFunction:
    logical_id = "Fn"

    def __init__(self, result: dict | None = None):
        self.events: list[dict] = []
        self.result = result if result is not None else {"statusCode": 200, "body": "{}"}

    def invoke(self, event: dict, _context: dict) -> dict | None:
        self.events.append(event)
        return self.result


def _request(method: str, target: str, headers=(), body: bytes | None = None) -> Request:
    return Request(method, target, list(headers), body, "192.0.2.7")


def test_a_throttled_route_answers_api_gateways_429_without_invoking_the_function():
    function = RecordingFunction()
    gateway = Gateway(
        routes={("POST", LOGIN): function},
        throttles={("POST", LOGIN): TokenBucket(rate=0, burst=1, clock=Clock())},
        quiet=True,
    )
    assert gateway.respond(_request("POST", LOGIN)).status == 200
    throttled = gateway.respond(_request("POST", LOGIN))
    assert (throttled.status, throttled.headers, throttled.body) == (
        429,
        {"content-type": "application/json"},
        '{"message":"Too Many Requests"}',
    )
    assert len(function.events) == 1


def test_the_event_carries_joined_headers_cookies_query_and_source_address():
    function = RecordingFunction()
    gateway = Gateway(routes={("GET", "/v1/me"): function}, quiet=True)
    gateway.respond(_request("GET", "/v1/me?x=1&x=2", [("X-Trace", "a"), ("x-trace", "b"), ("Cookie", "s=1")], b"\xff"))
    (event,) = function.events
    assert event["headers"] == {"x-trace": "a,b"} and event["cookies"] == ["s=1"]
    assert event["queryStringParameters"] == {"x": "1,2"} and event["rawQueryString"] == "x=1&x=2"
    assert event["requestContext"]["http"]["sourceIp"] == "192.0.2.7"
    assert event["isBase64Encoded"] is True and event["body"] == "/w=="


def test_no_route_is_api_gateways_404_and_a_failed_invocation_its_500():
    gateway = Gateway(routes={("GET", "/v1/me"): RecordingFunction()}, quiet=True)
    missing = gateway.respond(_request("PUT", "/v1/me"))
    assert (missing.status, json.loads(missing.body)) == (404, {"message": "Not Found"})
    failed = function_answer(None)
    assert (failed.status, failed.body) == (500, '{"message":"Internal Server Error"}')


def test_a_functions_cookies_become_set_cookie_headers():
    answer = function_answer({"statusCode": 200, "body": "ok", "cookies": ["a=1; Secure", "b=2"]})
    assert answer.cookies == ["a=1; Secure", "b=2"]
