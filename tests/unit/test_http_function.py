"""HttpFunction: dispatch by API Gateway's routeKey, and the contract's answer (logged once) for every exception."""

from __future__ import annotations

import json
import logging

import pytest

from local.http_events import LambdaContext, http_api_event
from wxlogin.config import ConfigurationError, load_settings
from wxlogin.errors import RateLimited
from wxlogin.web import api

SECRET_IN_MESSAGE = "https://api.weixin.qq.com/sns/jscode2session?secret=0123456789abcdef"


@pytest.fixture
def function():
    function = api.HttpFunction(tracing=False)

    @function.route("GET /v1/me", "POST /v1/me")
    def me():
        return api.json_response(200, {"method": function.event["requestContext"]["http"]["method"]})

    @function.route("POST /v1/auth/login")
    def refused():
        raise RateLimited()

    @function.route("DELETE /v1/me")
    def bug():
        raise ValueError(SECRET_IN_MESSAGE)

    return function


def _call(function, method: str, path: str) -> tuple[int, dict]:
    result = function.handler(http_api_event(method, path), LambdaContext())
    return result["statusCode"], json.loads(result["body"])


def test_each_route_key_reaches_its_handler(function):
    assert _call(function, "GET", "/v1/me") == (200, {"method": "GET"})
    assert _call(function, "POST", "/v1/me") == (200, {"method": "POST"})


def test_a_route_key_the_function_does_not_serve_is_not_found(function, logs):
    assert _call(function, "PATCH", "/v1/me") == (404, {"error": {"code": "not_found", "message": "No such route."}})
    assert _call(function, "GET", "/v1/nothing")[0] == 404
    assert logs.at_least(logging.WARNING) == []


def test_a_domain_error_is_its_contract_answer_logged_once(function, logs):
    status, body = _call(function, "POST", "/v1/auth/login")
    assert (status, body["error"]["code"]) == (429, "rate_limited")
    [line] = [json.loads(line) for line in logs.lines if '"request refused"' in line]
    assert line["correlation_id"] and line["error_code"] == "rate_limited"


def test_a_bug_is_a_500_logged_once_with_the_request_id_and_without_its_text(function, logs):
    status, body = _call(function, "DELETE", "/v1/me")
    assert (status, body["error"]["code"]) == (500, "internal_error")
    [error] = logs.at_least(logging.ERROR)
    line = json.loads(error)
    assert line["correlation_id"] and line["function_request_id"] and line["error_type"] == "ValueError"
    assert "secret=" not in error and "secret=" not in json.dumps(body)


def test_tracing_follows_the_deploy_parameter_and_powertools_switch():
    assert load_settings({}).tracing is False
    assert load_settings({"XRAY_TRACING": "Active"}).tracing is True
    assert load_settings({"XRAY_TRACING": "PassThrough"}).tracing is False
    assert load_settings({"XRAY_TRACING": "Active", "POWERTOOLS_TRACE_DISABLED": "true"}).tracing is False
    with pytest.raises(ConfigurationError, match="XRAY_TRACING"):
        load_settings({"XRAY_TRACING": "on"})
