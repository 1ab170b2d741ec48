"""template.yaml holds the promises the issue makes about the deployed system; these tests keep them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.template import (
    function_environment,
    function_routes,
    load_template,
    table_create_kwargs,
    ttl_attribute,
)

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
FUNCTIONS = {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}


def _actions(logical_id: str) -> set[str]:
    actions = set()
    for policy in FUNCTIONS[logical_id]["Properties"].get("Policies", []):
        if "AWSSecretsManagerGetSecretValuePolicy" in policy:
            actions.add("secretsmanager:GetSecretValue")
        for statement in policy.get("Statement", []):
            listed = statement["Action"]
            actions.update([listed] if isinstance(listed, str) else listed)
    return actions


def test_routes_are_explicit_and_each_belongs_to_one_function():
    routes = {(method, path): logical_id for method, path, logical_id, _, _ in function_routes(TEMPLATE)}
    assert routes == {
        ("POST", "/v1/auth/login"): "LoginFunction",
        ("POST", "/v1/profile/decrypt"): "ProfileFunction",
        ("POST", "/v1/profile/phone"): "ProfileFunction",
        ("GET", "/v1/me"): "AccountFunction",
        ("PATCH", "/v1/me"): "AccountFunction",
        ("POST", "/v1/me"): "AccountFunction",
        ("DELETE", "/v1/me"): "AccountFunction",
        ("POST", "/v1/auth/logout"): "AccountFunction",
        ("POST", "/v1/auth/token"): "LoginFunction",
        ("GET", "/.well-known/jwks.json"): "LoginFunction",
        ("GET", "/.well-known/openid-configuration"): "LoginFunction",
        ("GET", "/v1/examples/whoami"): "WhoAmIFunction",
    }
    assert all(handler == "app.lambda_handler" for *_, handler in function_routes(TEMPLATE))


def test_every_route_has_its_own_throttle_set_by_template_parameters():
    """One route's traffic must not use up another's: each route key its own bucket, every figure a parameter
    (docs/capacity.md derives the defaults); verifiers and refreshing clients never share login's bucket."""
    parameters = TEMPLATE["Parameters"]
    apis = {
        logical_id: RESOURCES[logical_id]["Properties"]
        for logical_id in {
            event["Properties"]["ApiId"]["Ref"]
            for f in FUNCTIONS.values()
            for event in f["Properties"]["Events"].values()
        }
    }
    throttled = {}
    for props in apis.values():
        for setting in (props["DefaultRouteSettings"], *props["RouteSettings"].values()):
            for figure in ("ThrottlingRateLimit", "ThrottlingBurstLimit"):
                assert parameters[setting[figure]["Ref"]]["Type"] == "Number"
                assert parameters[setting[figure]["Ref"]]["MinValue"] >= 1
        throttled.update(props["RouteSettings"])
    routes = {f"{method} {path}" for method, path, *_ in function_routes(TEMPLATE)}
    assert set(throttled) == routes
    login = throttled["POST /v1/auth/login"]["ThrottlingRateLimit"]["Ref"]
    others = {key: s["ThrottlingRateLimit"]["Ref"] for key, s in throttled.items() if key != "POST /v1/auth/login"}
    assert login not in others.values()


def test_globals_pin_the_runtime_architecture_and_tracing():
    function_globals = TEMPLATE["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
    # Tracing is a deploy parameter, off unless a deploy turns it on (it costs every cold start: make bench);
    # the code learns it from the same value.
    assert function_globals["Tracing"] == {"Ref": "XRayTracing"}
    assert TEMPLATE["Parameters"]["XRayTracing"]["Default"] == "PassThrough"
    assert function_globals["Environment"]["Variables"]["XRAY_TRACING"] == {"Ref": "XRayTracing"}
    assert function_globals["Environment"]["Variables"]["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"


def test_only_functions_that_call_wechat_read_the_app_secret():
    readers = {name for name in FUNCTIONS if "secretsmanager:GetSecretValue" in _actions(name)}
    assert readers == {"LoginFunction", "ProfileFunction"}  # login: jscode2session; profile: access tokens
    for name in readers:
        assert function_environment(TEMPLATE, name)["APP_SECRETS_ID"] == {"Ref": "AppSecrets"}
    assert "APP_SECRETS_ID" not in function_environment(TEMPLATE, "AccountFunction")


def test_only_the_account_function_can_delete():
    deleters = {name for name in FUNCTIONS if _actions(name) & {"dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}}
    assert deleters == {"AccountFunction"}
    for name in FUNCTIONS:
        assert not any(action.endswith("*") for action in _actions(name)), name


def test_the_table_is_on_demand_with_ttl_recovery_and_a_unionid_index():
    kwargs = table_create_kwargs(TEMPLATE)
    assert kwargs["BillingMode"] == "PAY_PER_REQUEST"
    assert [index["IndexName"] for index in kwargs["GlobalSecondaryIndexes"]] == ["unionid-index"]
    assert ttl_attribute(TEMPLATE) == "expiresAt"
    props = RESOURCES["Table"]["Properties"]
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_every_function_has_a_log_group_with_retention():
    groups = [r["Properties"] for r in RESOURCES.values() if r["Type"] == "AWS::Logs::LogGroup"]
    named = {json.dumps(group.get("LogGroupName")) for group in groups}
    for name in FUNCTIONS:
        assert json.dumps({"Fn::Sub": f"/aws/lambda/${{{name}}}"}) in named
    assert all("RetentionInDays" in group for group in groups)


def test_the_secret_value_is_not_in_the_template():
    assert json.loads(RESOURCES["AppSecrets"]["Properties"]["SecretString"]) == {}


def test_the_layer_is_built_for_arm64_without_docker():
    layer = RESOURCES["SharedLayer"]
    assert layer["Properties"]["ContentUri"] == "layers/wxlogin/"
    assert layer["Metadata"]["BuildArchitecture"] == "arm64"


@pytest.mark.parametrize(
    "bad",
    ["Resources: {T: {Type: AWS::DynamoDB::Table, Properties: {}}, U: {Type: AWS::DynamoDB::Table, Properties: {}}}"],
)
def test_a_template_with_two_tables_is_refused(tmp_path, bad):
    path = tmp_path / "t.yaml"
    path.write_text(bad)
    with pytest.raises(ValueError, match="one DynamoDB table"):
        table_create_kwargs(load_template(path))


def test_short_tags_load_as_intrinsics(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("A: !Ref X\nB: !GetAtt T.Arn\nC: !Sub 'x-${AWS::Region}'\nD: !If [C, 1, 2]\n")
    assert load_template(path) == {
        "A": {"Ref": "X"},
        "B": {"Fn::GetAtt": ["T", "Arn"]},
        "C": {"Fn::Sub": "x-${AWS::Region}"},
        "D": {"Fn::If": ["C", 1, 2]},
    }


def test_every_checkov_skip_says_why():
    skips = [
        (name, skip)
        for name, resource in RESOURCES.items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips, "the template is expected to carry its checkov decisions"
    for name, skip in skips:
        assert skip["id"].startswith("CKV_") and len(skip.get("comment", "")) > 20, (name, skip)


def test_functions_reserve_concurrency_when_the_environment_asks():
    for name in FUNCTIONS:
        reserved = FUNCTIONS[name]["Properties"]["ReservedConcurrentExecutions"]
        assert reserved == {
            "Fn::If": ["HasReservedConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
        }
    assert "ReservedConcurrency=" in (ROOT / "samconfig.toml").read_text()


def test_only_the_login_function_reads_the_signing_keys_and_nothing_writes_a_secret():
    readers = {
        name
        for name, function in FUNCTIONS.items()
        for policy in function["Properties"].get("Policies", [])
        if policy.get("AWSSecretsManagerGetSecretValuePolicy", {}).get("SecretArn") == {"Ref": "SigningKeys"}
    }
    assert readers == {"LoginFunction"}
    # BatchGetSecretValue reads only what GetSecretValue allows on each secret: the login function's cold read.
    reads = {"secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue"}
    assert not any(
        action.startswith("secretsmanager:") and action not in reads for name in FUNCTIONS for action in _actions(name)
    )
    assert {name for name in FUNCTIONS if "secretsmanager:BatchGetSecretValue" in _actions(name)} == {"LoginFunction"}
    assert TEMPLATE["Resources"]["SigningKeys"]["Properties"]["SecretString"] == "{}"


def test_the_example_function_has_no_permissions_and_sits_behind_the_jwt_authorizer():
    assert "Policies" not in FUNCTIONS["WhoAmIFunction"]["Properties"]
    [event] = FUNCTIONS["WhoAmIFunction"]["Properties"]["Events"].values()
    api = TEMPLATE["Resources"][event["Properties"]["ApiId"]["Ref"]]["Properties"]
    assert "JwtConfiguration" in api["Auth"]["Authorizers"][api["Auth"]["DefaultAuthorizer"]]
    assert "Auth" not in event["Properties"]
