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


ADMIN_ACTIONS = ("find", "show", "block", "unblock", "signout", "export", "erase", "trail")


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
        ("POST", "/v1/auth/token"): "RefreshFunction",
        ("GET", "/.well-known/jwks.json"): "PublishedKeysFunction",
        ("GET", "/.well-known/openid-configuration"): "PublishedKeysFunction",
        ("GET", "/v1/examples/whoami"): "WhoAmIFunction",
        **{("POST", f"/admin/users/{action}"): "AdminFunction" for action in ADMIN_ACTIONS},
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
            if event["Type"] == "HttpApi"
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


def _secret_readers(secret: str) -> set[str]:
    return {
        name
        for name, function in FUNCTIONS.items()
        for policy in function["Properties"].get("Policies", [])
        if policy.get("AWSSecretsManagerGetSecretValuePolicy", {}).get("SecretArn") == {"Ref": secret}
    }


def test_only_functions_that_call_wechat_read_the_app_secret():
    readers = _secret_readers("AppSecrets")
    assert readers == {"LoginFunction", "ProfileFunction"}  # login: jscode2session; profile: access tokens
    # The admin function reads the data keys only, for the keyed hash a phone number is found by.
    assert _secret_readers("DataKeys") == {"LoginFunction", "ProfileFunction", "AdminFunction"}
    for name in readers:
        assert function_environment(TEMPLATE, name)["APP_SECRETS_ID"] == {"Ref": "AppSecrets"}
    assert "APP_SECRETS_ID" not in function_environment(TEMPLATE, "AccountFunction")


def test_only_the_account_and_admin_functions_can_delete():
    deleters = {name for name in FUNCTIONS if _actions(name) & {"dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}}
    assert deleters == {"AccountFunction", "AdminFunction"}  # the user item at DELETE /v1/me; an operator's erasure
    for name in FUNCTIONS:
        assert not any(action.endswith("*") for action in _actions(name)), name


def test_the_table_is_on_demand_with_ttl_recovery_and_a_unionid_index():
    kwargs = table_create_kwargs(TEMPLATE)
    assert kwargs["BillingMode"] == "PAY_PER_REQUEST"
    assert [index["IndexName"] for index in kwargs["GlobalSecondaryIndexes"]] == ["unionid-index", "phone-index"]
    # The phone index holds keys and the number's keyed hash only, never the number.
    assert kwargs["GlobalSecondaryIndexes"][1]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
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
        # The published keys and refresh take milliseconds a request: their routes' burst is all they can use.
        amount = {"PublishedKeysFunction": "PublishedKeysBurstLimit", "RefreshFunction": "RefreshBurstLimit"}.get(
            name, "ReservedConcurrency"
        )
        assert reserved == {"Fn::If": ["HasReservedConcurrency", {"Ref": amount}, {"Ref": "AWS::NoValue"}]}
    assert "ReservedConcurrency=" in (ROOT / "samconfig.toml").read_text()


def test_only_the_functions_that_sign_read_the_signing_keys_and_nothing_writes_a_secret():
    assert _secret_readers("SigningKeys") == {"LoginFunction", "RefreshFunction"}
    # BatchGetSecretValue reads only what GetSecretValue allows on each secret: the login and profile
    # functions' cold reads.
    reads = {"secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue"}
    assert not any(
        action.startswith("secretsmanager:") and action not in reads for name in FUNCTIONS for action in _actions(name)
    )
    batch_readers = {name for name in FUNCTIONS if "secretsmanager:BatchGetSecretValue" in _actions(name)}
    assert batch_readers == {"LoginFunction", "ProfileFunction"}
    assert TEMPLATE["Resources"]["SigningKeys"]["Properties"]["SecretString"] == "{}"


def test_the_published_keys_are_served_apart_from_login_reading_only_the_public_halves():
    """Verifiers' traffic never reaches the login function's concurrency, and the function that serves it can
    sign nothing: it reads one secret, the public halves, and touches nothing else."""
    function = FUNCTIONS["PublishedKeysFunction"]["Properties"]
    assert function["Policies"] == [{"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": {"Ref": "PublishedKeys"}}}]
    assert _secret_readers("PublishedKeys") == {"PublishedKeysFunction"}
    assert "SIGNING_KEYS_ID" not in function_environment(TEMPLATE, "PublishedKeysFunction")
    assert TEMPLATE["Resources"]["PublishedKeys"]["Properties"]["SecretString"] == "{}"
    paths = {event["Properties"]["Path"] for event in function["Events"].values()}
    assert paths == {"/.well-known/jwks.json", "/.well-known/openid-configuration"}


def test_the_example_function_has_no_permissions_and_sits_behind_the_jwt_authorizer():
    assert "Policies" not in FUNCTIONS["WhoAmIFunction"]["Properties"]
    [event] = FUNCTIONS["WhoAmIFunction"]["Properties"]["Events"].values()
    api = TEMPLATE["Resources"][event["Properties"]["ApiId"]["Ref"]]["Properties"]
    assert "JwtConfiguration" in api["Auth"]["Authorizers"][api["Auth"]["DefaultAuthorizer"]]
    assert "Auth" not in event["Properties"]


def test_the_admin_api_takes_only_iam_signed_requests():
    api = RESOURCES["AdminApi"]["Properties"]
    assert api["Auth"] == {"EnableIamAuthorizer": True, "DefaultAuthorizer": "AWS_IAM"}
    for event in FUNCTIONS["AdminFunction"]["Properties"]["Events"].values():
        assert event["Properties"]["ApiId"] == {"Ref": "AdminApi"}
        assert "Auth" not in event["Properties"]  # no route opts out of the default
    # No admin route on the Mini Program's API, whatever its authorizer.
    for name, function in FUNCTIONS.items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi" and event["Properties"]["Path"].startswith("/admin/"):
                assert name == "AdminFunction"


def test_events_come_from_the_stream_of_users_and_sessions_to_the_parameter_bus():
    [event] = FUNCTIONS["EventsFunction"]["Properties"]["Events"].values()
    props = event["Properties"]
    assert event["Type"] == "DynamoDB" and props["Stream"] == {"Fn::GetAtt": ["Table", "StreamArn"]}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # Users (sign-up, login, phone, block, erasure) and the sessions a logout ended (they name their user): never
    # a login's new session, an access token or an audit entry.
    users, logouts = (json.loads(f["Pattern"]) for f in props["FilterCriteria"]["Filters"])
    assert users == {"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "USER#"}]}}}}
    # Only the record's `dynamodb` key, which Lambda filters for a DynamoDB source.
    assert logouts == {
        "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "SESSION#"}]}}, "NewImage": {"uid": {"S": [{"exists": True}]}}},
    }
    assert props["DestinationConfig"]["OnFailure"]["Type"] == "SQS"
    assert TEMPLATE["Parameters"]["EventBusName"]["Default"] == "default"
    assert function_environment(TEMPLATE, "EventsFunction")["EVENT_BUS_NAME"] == {"Ref": "EventBusName"}
    assert _actions("EventsFunction") == {"dynamodb:PutItem", "events:PutEvents"}
    assert RESOURCES["Table"]["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_audit_retention_is_a_parameter_of_180_days_by_default():
    assert TEMPLATE["Parameters"]["AuditRetentionDays"]["Default"] == 180
    for name in ("AdminFunction", "EventsFunction"):
        assert function_environment(TEMPLATE, name)["AUDIT_RETENTION_DAYS"] == {"Ref": "AuditRetentionDays"}


def test_the_dashboard_shows_what_an_operator_watches():
    body = RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    dashboard = json.loads(body)
    titles = " ".join(widget["properties"]["title"] for widget in dashboard["widgets"])
    for topic in ("Logins", "error code", "WeChat", "Refused", "Throttles", "duration", "errors", "concurrency"):
        assert topic in titles, topic
    for name in FUNCTIONS:
        assert "${" + name + "}" in body, name
