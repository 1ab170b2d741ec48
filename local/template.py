"""Reads template.yaml so that tests and the local stack use the deployed definitions, never a copy.

The table the tests create, the routes the local gateway serves and the
environment each function gets all come from here; change the template and
they follow.
"""

from __future__ import annotations

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
