"""Each function's role in template.yaml grants exactly what its function calls: no action or resource it
never uses, none it uses missing, every item it touches inside the role's dynamodb:LeadingKeys, and no
LeadingKeys pattern that none of its calls needs.

How it works: every function of the template is driven through all of its routes (SCENARIOS below), in
process against moto and the WeChat simulator, while every botocore call of the process is recorded. Each
call becomes the IAM actions and resources AWS checks for it (a TransactWriteItems Delete is
dynamodb:DeleteItem on the item's table; a BatchGetSecretValue is secretsmanager:BatchGetSecretValue on "*"
and GetSecretValue on each secret). The role's grants come from the function's `Policies` in
template.yaml, with SAM's policy templates expanded from SAM's own definitions.

A new function gets its call list by adding a scenario to SCENARIOS: a function taking a `Driver` that calls
each of its routes (`driver.call(...)`) in every way that makes different AWS calls (cold start, retries,
faults it recovers from). The test fails for a function of the template without a scenario, for a route a
scenario leaves out, and for a call whose service it cannot map (add it to `_iam_checks`).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import secrets
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import boto3
import botocore.client
import pytest

from local.http_events import LambdaContext, http_api_event
from local.template import function_environment, function_routes
from tests.support.inprocess import TEMPLATE, Api, Sim, rewire
from tests.support.values import APP_SECRET, APPID, OPENID, SESSION_KEY
from wxlogin.keys.appsecrets import shared_provider

FUNCTIONS = sorted(
    name for name, resource in TEMPLATE["Resources"].items() if resource["Type"] == "AWS::Serverless::Function"
)


# --- What the role grants ---------------------------------------------------------------------------------------


@cache
def _sam_policy_templates() -> dict:
    import samtranslator

    path = Path(samtranslator.__file__).parent / "policy_templates_data" / "policy_templates.json"
    return json.loads(path.read_text())["Templates"]


def _fill(node, values: dict):
    """A SAM policy template's definition with its parameters (Ref <Parameter>) set to the template's values."""
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in values:
            return values[node["Ref"]]
        if set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], list):
            text, names = node["Fn::Sub"]
            whole = re.fullmatch(r"\$\{(\w+)\}", text)
            if whole and whole.group(1) in names:
                return _fill(names[whole.group(1)], values)
        return {key: _fill(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_fill(value, values) for value in node]
    return node


def _resource(value) -> str:
    """A policy's resource as the template's logical name: Table, Table/index/unionid-index, AppSecrets, *."""
    if value == "*":
        return "*"
    if isinstance(value, dict) and "Ref" in value:
        return value["Ref"]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target, attribute = value["Fn::GetAtt"]
        assert attribute == "Arn", value
        return target
    if isinstance(value, dict) and isinstance(value.get("Fn::Sub"), str):
        # ${Table.Arn}/index/x -> Table/index/x; arn:${AWS::Partition}:events:...:event-bus/${Bus} -> event-bus/Bus
        text = re.sub(
            r"^arn:\$\{AWS::Partition\}:[a-z0-9-]+:\$\{AWS::Region\}:\$\{AWS::AccountId\}:", "", value["Fn::Sub"]
        )
        return re.sub(r"\$\{(\w+)(\.Arn)?\}", r"\1", text)
    raise AssertionError(f"a resource this test cannot name: {value!r}")


@dataclass(frozen=True)
class Grant:
    action: str
    resource: str
    leading_keys: tuple[str, ...] | None  # the dynamodb:LeadingKeys patterns it is confined to, if any


def _statements(logical_id: str) -> list[dict]:
    policies = TEMPLATE["Resources"][logical_id]["Properties"].get("Policies", [])
    assert isinstance(policies, list), f"{logical_id}: Policies as a list"
    statements = []
    for policy in policies:
        assert isinstance(policy, dict), f"{logical_id}: managed policy {policy!r}: grant its actions in a Statement"
        ((name, value),) = policy.items()
        if name == "Statement":
            statements.extend(value)
        else:
            definition = _sam_policy_templates()[name]["Definition"]
            statements.extend(_fill(definition, value or {})["Statement"])
    return statements


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _keyed_statements(logical_id: str) -> list[tuple[tuple[str, ...], set[str], tuple[str, ...]]]:
    """(actions, resources, dynamodb:LeadingKeys patterns) of each statement confined to some partition keys."""
    keyed = []
    for statement in _statements(logical_id):
        patterns = statement.get("Condition", {}).get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")
        if patterns:
            resources = {_resource(resource) for resource in _listed(statement["Resource"])}
            keyed.append((tuple(_listed(statement["Action"])), resources, tuple(patterns)))
    return keyed


def granted(logical_id: str) -> set[Grant]:
    grants = set()
    for statement in _statements(logical_id):
        assert statement["Effect"] == "Allow" and set(statement) <= {"Effect", "Action", "Resource", "Condition"}
        leading_keys = None
        if "Condition" in statement:
            ((operator, keys),) = statement["Condition"].items()
            assert operator == "ForAllValues:StringLike" and set(keys) == {"dynamodb:LeadingKeys"}, statement
            leading_keys = tuple(keys["dynamodb:LeadingKeys"])
        actions, resources = _listed(statement["Action"]), _listed(statement["Resource"])
        grants |= {Grant(a, _resource(r), leading_keys) for a in actions for r in resources}
    return grants


# --- What the function calls ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One permission AWS checks for a call: action, resource (logical name) and the item's partition key."""

    action: str
    resource: str
    leading_key: str | None = None


def _logical_names(logical_id: str) -> dict[str, str]:
    """What this process calls the template's resources (TABLE_NAME's value -> Table, ...), from the function's
    environment: each variable the template sets to !Ref <resource>."""
    names = {}
    parameters = TEMPLATE.get("Parameters", {})
    for variable, value in function_environment(TEMPLATE, logical_id).items():
        if isinstance(value, dict) and set(value) == {"Ref"}:
            # Unset here, a parameter is its default (the events function's bus is "default").
            default = parameters.get(value["Ref"], {}).get("Default")
            local = os.environ.get(variable, default)
            if local is not None:
                names[str(local)] = value["Ref"]
    return names


def _partition_key(key: dict) -> str:
    return key["pk"]["S"]


def _queried_key(params: dict) -> str | None:
    """The partition key a Query on the table names (`pk = :x`); None for an index's."""
    if "IndexName" in params:
        return None
    match = re.match(r"\s*pk\s*=\s*(:\w+)", params["KeyConditionExpression"])
    return params["ExpressionAttributeValues"][match.group(1)]["S"]


TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def _iam_checks(prefix: str, operation: str, params: dict, names: dict[str, str]) -> list[Check]:
    """The permissions AWS checks for one call
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html,
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_BatchGetSecretValue.html)."""
    if prefix == "dynamodb":
        if operation == "TransactWriteItems":
            return [
                Check(f"dynamodb:{TRANSACT_ACTIONS[kind]}", names[spec["TableName"]], _partition_key(spec["Key"]))
                for item in params["TransactItems"]
                for kind, spec in item.items()
            ]
        if operation == "BatchGetItem":
            return [
                Check("dynamodb:BatchGetItem", names[table], _partition_key(key))
                for table, spec in params["RequestItems"].items()
                for key in spec["Keys"]
            ]
        table = names[params["TableName"]]
        if operation == "Query":
            resource = f"{table}/index/{params['IndexName']}" if "IndexName" in params else table
            return [Check("dynamodb:Query", resource, _queried_key(params))]
        key = params.get("Key") or params["Item"]
        return [Check(f"dynamodb:{operation}", table, _partition_key(key))]
    if prefix == "secretsmanager":
        if operation == "BatchGetSecretValue":
            secrets = [names[secret_id] for secret_id in params["SecretIdList"]]
            return [Check("secretsmanager:BatchGetSecretValue", "*")] + [
                Check("secretsmanager:GetSecretValue", secret) for secret in secrets
            ]
        return [Check(f"secretsmanager:{operation}", names[params["SecretId"]])]
    if prefix == "events" and operation == "PutEvents":
        buses = {entry.get("EventBusName", "default") for entry in params["Entries"]}
        return [Check("events:PutEvents", f"event-bus/{names[bus]}") for bus in buses]
    raise AssertionError(f"a {prefix}:{operation} call: teach _iam_checks the permissions AWS checks for it")


class Recorder:
    """Every botocore call of this process while on: (IAM prefix, operation, parameters)."""

    def __init__(self):
        self.calls: list[tuple[str, str, dict]] = []
        self.on = False

    def install(self, monkeypatch) -> None:
        original = botocore.client.BaseClient._make_api_call
        recorder = self

        def recording(client, operation_name, api_params):
            if recorder.on:
                recorder.calls.append((client.meta.service_model.signing_name, operation_name, dict(api_params)))
            return original(client, operation_name, api_params)

        monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)

    @contextmanager
    def recording(self, on: bool = True):
        before, self.on = self.on, on
        try:
            yield
        finally:
            self.on = before


# --- Driving each function through its routes --------------------------------------------------------------------


@dataclass
class Driver:
    """Calls one function's routes as API Gateway would, noting which it called."""

    api: Api
    wechat: Sim
    aws: object
    logical_id: str
    recorder: Recorder
    monkeypatch: pytest.MonkeyPatch
    routes: set[tuple[str, str]] = field(default_factory=set)

    def call(self, method: str, path: str, expect: int | tuple[int, ...] = 200, **kwargs):
        route = (method, path.partition("?")[0])
        assert self.api.routes[route][0] == self.logical_id, f"{route} is not {self.logical_id}'s"
        self.routes.add(route)
        answer = self.api.call(method, path, **kwargs)
        assert answer.status in (expect if isinstance(expect, tuple) else (expect,)), (route, answer.body)
        return answer

    def call_authorized(
        self, method: str, path: str, authorizer: dict, body: dict | None = None, expect: tuple[int, ...] = (200,)
    ) -> dict:
        """A route behind an authorizer (JWT, IAM): the function gets what API Gateway verified."""
        route = (method, path)
        logical_id, code_uri = self.api.routes[route]
        assert logical_id == self.logical_id
        self.routes.add(route)
        event = http_api_event(method, path, body=json.dumps(body) if body else None, authorizer=authorizer)
        module = self.api.module(logical_id, code_uri)
        answer = module.lambda_handler(event, LambdaContext(function_name=logical_id))
        assert answer["statusCode"] in expect, (route, answer)
        return answer

    def invoke(self, event: dict):
        """The function called directly, as Lambda calls a stream consumer."""
        module = self.api.module(self.logical_id, TEMPLATE["Resources"][self.logical_id]["Properties"]["CodeUri"])
        return module.lambda_handler(event, LambdaContext(function_name=self.logical_id))

    def unrecorded(self):
        """Set-up the test does itself (changing a secret), which the function's role need not grant."""
        return self.recorder.recording(on=False)

    def login(self, openid: str = OPENID, unionid: str | None = None) -> dict:
        """A user logged in by the login function, unrecorded: set-up for another function's routes."""
        code = f"roles-{len(self.api.answers)}-{openid[-6:]}"
        self.wechat.register(code, openid, SESSION_KEY, unionid)
        with self.unrecorded():
            return self.api.post("/v1/auth/login", {"code": code}).body


def login_scenario(d: Driver) -> None:
    d.api.clear_secret_caches()  # a cold instance: its secrets read together
    d.call("POST", "/v1/auth/login", json_body={"code": d.wechat.login_code()})
    key = {"Idempotency-Key": "0c6d3f1e9a8b4c2d8e7f6a5b4c3d2e1f"}
    code = d.wechat.login_code()
    d.call("POST", "/v1/auth/login", json_body={"code": code}, headers=key)
    d.call("POST", "/v1/auth/login", json_body={"code": code}, headers=key)  # a retry, answered again
    d.wechat.fault(errcode=40029, paths=["/sns/jscode2session"])
    d.call(
        "POST", "/v1/auth/login", 401, json_body={"code": "refused"}, headers={"Idempotency-Key": secrets.token_hex(16)}
    )
    rotated = "rotated-secret-for-the-roles-test"  # read afresh alone at WeChat's 40125
    d.wechat.set_app(APPID, rotated)
    with d.unrecorded():
        d.aws.set_apps({APPID: rotated})
    d.call("POST", "/v1/auth/login", json_body={"code": d.wechat.login_code()})
    d.wechat.set_app(APPID, APP_SECRET)
    with d.unrecorded():
        d.aws.set_apps({APPID: APP_SECRET})
    # With SIGNUP_RISK_CHECK, a sign-up asks getuserriskrank with the app's shared WeChat access token (APP#).
    module = d.api.module(*d.api.function("LoginFunction"))
    rewire(d.monkeypatch, module, "LoginFunction", settings=replace(module.settings, signup_risk_check=True))
    d.call("POST", "/v1/auth/login", json_body={"code": d.wechat.login_code("ranked-newcomer")})


def refresh_scenario(d: Driver) -> None:
    me = d.login()
    d.api.clear_secret_caches()  # a cold instance: the signing keys read
    d.call("POST", "/v1/auth/token", token=me["token"])


def published_keys_scenario(d: Driver) -> None:
    d.api.clear_secret_caches()  # a cold instance: the public halves read
    d.call("GET", "/.well-known/jwks.json")
    d.call("GET", "/.well-known/openid-configuration")


def profile_scenario(d: Driver) -> None:
    me = d.login()
    d.api.clear_secret_caches()  # a cold instance, with no access token in memory
    data = d.wechat.user_data(OPENID, profile={"nickName": "Roles"})
    d.call("POST", "/v1/profile/decrypt", json_body=data, token=me["token"])
    d.call("POST", "/v1/profile/phone", json_body={"code": d.wechat.phone_code(OPENID)}, token=me["token"])
    d.wechat.expire_access_tokens()  # WeChat rejects the stored token: refreshed, the number fetched again
    d.call("POST", "/v1/profile/phone", json_body={"code": d.wechat.phone_code(OPENID)}, token=me["token"])
    legacy = d.wechat.user_data(OPENID, kind="phone")
    body = {"encryptedData": legacy["encryptedData"], "iv": legacy["iv"]}
    d.call("POST", "/v1/profile/phone", json_body=body, token=me["token"])


def account_scenario(d: Driver) -> None:
    me = d.login(unionid="oUnionRoles000000000000000")
    d.login(openid="oOtherSessionOfTheSameUser0", unionid="oUnionRoles000000000000000")
    second = d.login()
    d.call("GET", "/v1/me", token=me["token"])
    d.call("GET", "/v1/me?include=linkedApps", token=me["token"])
    d.call("PATCH", "/v1/me", json_body={"nickName": "Roles"}, token=me["token"])
    d.call("POST", "/v1/me", json_body={"nickName": "Roles again"}, token=me["token"])
    d.call("POST", "/v1/auth/logout", 204, token=second["token"])
    d.login()  # another session, for the erasure to end
    d.call("DELETE", "/v1/me", 204, token=me["token"])


def whoami_scenario(d: Driver) -> None:
    claims = {"sub": "s", "appid": APPID, "openid": OPENID}
    d.call_authorized("GET", "/v1/examples/whoami", {"jwt": {"claims": claims, "scopes": None}})


def admin_scenario(d: Driver) -> None:
    me = d.login(unionid="oUnionAdminRoles0000000000")
    phone = d.wechat.phone_code(OPENID, phone="13912345678")
    with d.unrecorded():
        d.api.post("/v1/profile/phone", {"code": phone}, token=me["token"])
    shared_provider().clear_cache()  # a cold instance: its secrets read from Secrets Manager
    operator = {"iam": {"userArn": "arn:aws:iam::123456789012:user/operator"}}
    user, why = {"appid": APPID, "openid": OPENID}, {"reason": "roles test"}
    for selector in (user, {"unionid": "oUnionAdminRoles0000000000"}, {"phone": "13912345678"}):
        d.call_authorized("POST", "/admin/users/find", operator, selector)
    d.call_authorized("POST", "/admin/users/find", operator, {"sub": "no-such-sub"})
    d.call_authorized("POST", "/admin/users/show", operator, user)
    d.call_authorized("POST", "/admin/users/export", operator, user)
    d.call_authorized("POST", "/admin/users/block", operator, {**user, **why})
    d.call_authorized("POST", "/admin/users/unblock", operator, {**user, **why})
    d.login()  # a session for the sign-out to end
    d.call_authorized("POST", "/admin/users/signout", operator, user)
    d.call_authorized("POST", "/admin/users/trail", operator, user)
    d.login()  # and one for the erasure
    d.call_authorized("POST", "/admin/users/erase", operator, user)


def events_scenario(d: Driver) -> None:
    """What the table's stream hands the function after a sign-up, a phone bound, a logout and an erasure."""
    from local.events import lambda_record, matches, stream_consumer

    with d.unrecorded():
        me = d.login()
        d.api.post("/v1/profile/phone", {"code": d.wechat.phone_code(OPENID)}, token=me["token"])
        d.api.post("/v1/auth/logout", token=d.login()["token"])
        d.api.delete("/v1/me", token=me["token"])
        streams = boto3.client("dynamodbstreams")
        stream = d.aws.dynamodb.describe_table(TableName=d.aws.table)["Table"]["LatestStreamArn"]
        records = []
        for shard in streams.describe_stream(StreamArn=stream)["StreamDescription"]["Shards"]:
            iterator = streams.get_shard_iterator(
                StreamArn=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )
            records += streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    _, properties = stream_consumer(TEMPLATE)
    patterns = [json.loads(f["Pattern"]) for f in properties.get("FilterCriteria", {}).get("Filters", [])]
    batch = [lambda_record(r, stream) for r in records]
    batch = [r for r in batch if not patterns or any(matches(p, r) for p in patterns)]
    assert batch
    assert d.invoke({"Records": batch}) == {"batchItemFailures": []}


SCENARIOS: dict[str, Callable[[Driver], None]] = {
    "LoginFunction": login_scenario,
    "RefreshFunction": refresh_scenario,
    "PublishedKeysFunction": published_keys_scenario,
    "ProfileFunction": profile_scenario,
    "AccountFunction": account_scenario,
    "WhoAmIFunction": whoami_scenario,
    "AdminFunction": admin_scenario,
    "EventsFunction": events_scenario,
}


# --- The comparison ---------------------------------------------------------------------------------------------


def _allowed(check: Check, grants: set[Grant]) -> bool:
    for grant in grants:
        if (grant.action, grant.resource) not in ((check.action, check.resource), (check.action, "*")):
            continue
        if grant.leading_keys is None or (
            check.leading_key is not None
            and any(fnmatch.fnmatchcase(check.leading_key, pattern) for pattern in grant.leading_keys)
        ):
            return True
    return False


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_each_role_grants_exactly_what_its_function_calls(logical_id, api, aws, wechat, monkeypatch):
    assert logical_id in SCENARIOS, f"{logical_id} has no scenario: add one to SCENARIOS (see the module's doc)"
    recorder = Recorder()
    recorder.install(monkeypatch)
    driver = Driver(api, wechat, aws, logical_id, recorder, monkeypatch)
    with recorder.recording():
        SCENARIOS[logical_id](driver)
    routes = {(method, path) for method, path, owner, _, _ in function_routes(TEMPLATE) if owner == logical_id}
    assert driver.routes == routes, f"the scenario leaves out {routes - driver.routes}"

    names = _logical_names(logical_id)
    checks = [check for prefix, op, params in recorder.calls for check in _iam_checks(prefix, op, params, names)]
    grants = granted(logical_id)
    missing = sorted({check for check in checks if not _allowed(check, grants)}, key=str)
    assert not missing, f"{logical_id} calls what its role does not grant: {missing}"
    used = {(check.action, check.resource) for check in checks}
    unused = sorted((g.action, g.resource) for g in grants if (g.action, g.resource) not in used)
    assert not unused, f"{logical_id}'s role grants what it never calls: {unused}"
    # Nor a kind of item it never touches: each dynamodb:LeadingKeys pattern of a statement is the key of a call
    # the statement allows (IAM ties a statement's patterns to all its actions; only a statement of its own
    # would narrow one action further).
    untouched = sorted(
        (actions, pattern)
        for actions, resources, patterns in _keyed_statements(logical_id)
        for pattern in patterns
        if not any(
            check.action in actions
            and check.resource in resources
            and check.leading_key is not None
            and fnmatch.fnmatchcase(check.leading_key, pattern)
            for check in checks
        )
    )
    assert not untouched, f"{logical_id}'s role reaches items it never touches: {untouched}"
