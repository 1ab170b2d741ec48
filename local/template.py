"""Reads template.yaml so that tests and the local stack use the deployed definitions, never a copy.

The table the tests create, the routes the local gateway serves and the
environment each function gets all come from here; change the template and
they follow.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PATH = ROOT / "template.yaml"


class _CloudFormationLoader(yaml.SafeLoader):
    """A SafeLoader that keeps CloudFormation short tags (!Ref, !Sub, ...) as {"Ref": ...} / {"Fn::Sub": ...}."""


def _short_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _short_tag)


def load_template(path: Path | str = TEMPLATE_PATH) -> dict:
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass


def _resources_of_type(template: dict, kind: str) -> dict[str, dict]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == kind}


def _table(template: dict) -> dict:
    tables = _resources_of_type(template, "AWS::DynamoDB::Table")
    if len(tables) != 1:
        raise ValueError(f"expected one DynamoDB table in the template, found {sorted(tables)}")
    return next(iter(tables.values()))["Properties"]


def table_create_kwargs(template: dict) -> dict:
    """boto3 create_table arguments (all but TableName) for the template's table."""
    props = _table(template)
    kwargs = {
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = [
            {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
            for index in props["GlobalSecondaryIndexes"]
        ]
    if props.get("StreamSpecification"):
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    return kwargs


def ttl_attribute(template: dict) -> str:
    spec = _table(template)["TimeToLiveSpecification"]
    if not spec.get("Enabled"):
        raise ValueError("the template's table has TTL switched off")
    return spec["AttributeName"]


def _functions(template: dict) -> dict[str, dict]:
    return _resources_of_type(template, "AWS::Serverless::Function")


def function_routes(template: dict) -> list[tuple[str, str, str, str, str]]:
    """(METHOD, path, logical id, CodeUri, Handler) for every HttpApi event of every function."""
    globals_function = template.get("Globals", {}).get("Function", {})
    routes = []
    for logical_id, resource in _functions(template).items():
        props = resource["Properties"]
        handler = props.get("Handler", globals_function.get("Handler"))
        for event in props.get("Events", {}).values():
            if event["Type"] != "HttpApi":
                continue
            routes.append(
                (
                    event["Properties"]["Method"].upper(),
                    event["Properties"]["Path"],
                    logical_id,
                    props["CodeUri"],
                    handler,
                )
            )
    return sorted(routes)


def function_environment(template: dict, logical_id: str) -> dict:
    """The function's environment as the template sets it: Globals first, the function's own on top.

    Values that are intrinsic functions (!Ref Table, ...) stay as dicts; the
    caller substitutes what they resolve to in its own world.
    """
    merged = dict(template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
    props = _functions(template)[logical_id]["Properties"]
    merged.update(props.get("Environment", {}).get("Variables", {}))
    return merged


def http_api_routes(template: dict) -> list[tuple[str, str, str, str]]:
    """(API logical id, METHOD, path, function logical id) for every HttpApi event: the API each route belongs
    to decides its stage's throttles. An event without ApiId is on the implicit API, ServerlessHttpApi."""
    routes = []
    for logical_id, resource in _functions(template).items():
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] != "HttpApi":
                continue
            props = event["Properties"]
            api = props.get("ApiId", {"Ref": "ServerlessHttpApi"})
            api_id = api["Ref"] if isinstance(api, dict) and set(api) == {"Ref"} else str(api)
            routes.append((api_id, props["Method"].upper(), props["Path"], logical_id))
    return sorted(routes)


def function_property(template: dict, logical_id: str, name: str):
    """A property of the function, or of Globals.Function when the function does not set it."""
    props = _functions(template)[logical_id]["Properties"]
    return props.get(name, template.get("Globals", {}).get("Function", {}).get(name))


def function_timeout(template: dict, logical_id: str) -> float:
    """The function's Timeout in seconds: its own, else the Globals', else Lambda's default (3)."""
    return float(function_property(template, logical_id, "Timeout") or 3)


class ParameterError(ValueError):
    """A template parameter given from the shell that CloudFormation would refuse; the message says why."""


def parameter_overrides(template: dict, environ: Mapping[str, str]) -> dict[str, str]:
    """The template parameters set in the shell under their own names (`LoginThrottlingRateLimit=5 make run`, as
    `sam deploy --parameter-overrides` takes them), checked against the parameter's Type, MinValue, MaxValue,
    AllowedValues and AllowedPattern as CloudFormation checks them."""
    values = {}
    for name, spec in template.get("Parameters", {}).items():
        if name not in environ:
            continue
        value = environ[name].strip()
        if spec.get("Type") == "Number":
            try:
                number = float(value)
            except ValueError:
                raise ParameterError(f"{name} must be a number, got {value!r}") from None
            low, high = spec.get("MinValue"), spec.get("MaxValue")
            if low is not None and number < float(low):
                bound = f"at least {low}" if high is None else f"between {low} and {high}"
                raise ParameterError(f"{name} must be {bound}, got {value!r}")
            if high is not None and number > float(high):
                bound = f"at most {high}" if low is None else f"between {low} and {high}"
                raise ParameterError(f"{name} must be {bound}, got {value!r}")
        allowed = spec.get("AllowedValues")
        if allowed is not None and value not in [str(option) for option in allowed]:
            raise ParameterError(f"{name} must be one of {', '.join(map(str, allowed))}, got {value!r}")
        if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
            raise ParameterError(f"{name} must match {spec['AllowedPattern']}, got {value!r}")
        values[name] = value
    return values


def template_resolver(template: dict, variables: Mapping[str, str]) -> Callable[[object], str | None]:
    """Resolves a template value locally: a string or number, `!Ref X`, `!Sub "...${X}..."` or
    `!If [Condition, a, b]` (conditions of `!Equals`, `!Not`, `!And`, `!Or` and `Condition`), where X is one of
    `variables` (what the caller's world makes of resources, pseudo parameters and parameters given in the shell)
    or a template parameter (its default). `!Ref AWS::NoValue` resolves to None: the property is absent."""
    parameters = template.get("Parameters", {})
    conditions = template.get("Conditions", {})

    def lookup(name: str) -> str | None:
        if name in variables:
            return variables[name]
        if name == "AWS::NoValue":
            return None
        if name in parameters and "Default" in parameters[name]:
            return str(parameters[name]["Default"])
        raise ValueError(f"cannot resolve {name} locally")

    def holds(condition) -> bool:
        if not (isinstance(condition, dict) and len(condition) == 1):
            raise ValueError(f"unsupported condition {condition}")
        [(function, argument)] = condition.items()
        if function == "Condition":
            return holds(conditions[argument])
        if function == "Fn::Not":
            return not holds(argument[0])
        if function == "Fn::And":
            return all(holds(part) for part in argument)
        if function == "Fn::Or":
            return any(holds(part) for part in argument)
        if function == "Fn::Equals":
            left, right = argument
            return resolve(left) == resolve(right)
        raise ValueError(f"unsupported condition {condition}")

    def resolve(value) -> str | None:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, dict) and set(value) == {"Ref"}:
            return lookup(value["Ref"])
        if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            return re.sub(r"\$\{([A-Za-z0-9_:.]+)\}", lambda match: lookup(match.group(1)), value["Fn::Sub"])
        if isinstance(value, dict) and set(value) == {"Fn::If"}:
            name, when_true, when_false = value["Fn::If"]
            return resolve(when_true if holds(conditions[name]) else when_false)
        raise ValueError(f"unsupported intrinsic {value}")

    return resolve


def generated_secret_string(template: dict, logical_id: str) -> str:
    """A value for a secret the template generates (GenerateSecretString), made as Secrets Manager would:
    its SecretStringTemplate with GenerateStringKey set to PasswordLength random letters and digits."""
    import json
    import secrets
    import string

    spec = template["Resources"][logical_id]["Properties"]["GenerateSecretString"]
    alphabet = string.ascii_letters + string.digits
    value = json.loads(spec["SecretStringTemplate"])
    value[spec["GenerateStringKey"]] = "".join(secrets.choice(alphabet) for _ in range(int(spec["PasswordLength"])))
    return json.dumps(value)
