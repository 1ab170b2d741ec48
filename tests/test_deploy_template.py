"""What a live deployment needs from template.yaml: an optional custom domain, and validity in the China regions.

The template is transformed by SAM's own translator (no AWS call: the managed
policy lookup is stubbed) as CloudFormation would receive it in each region.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from unittest import mock

import pytest

ROOT = Path(__file__).resolve().parents[1]
CUSTOM_DOMAIN = {"ApiDomain", "ApiDomainMapping", "ApiDomainRecord"}


def _transformed(region: str, parameters: dict, monkeypatch) -> dict:
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    template = yaml_parse((ROOT / "template.yaml").read_text(encoding="utf-8"))
    for resource in template["Resources"].values():
        for key in ("CodeUri", "ContentUri"):  # what `sam deploy` puts there after uploading the code
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = "s3://bucket/code.zip"
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    policies = mock.Mock()
    policies.load.return_value = {}
    return transform(template, parameters, policies)


@pytest.mark.parametrize("region", ["cn-north-1", "cn-northwest-1"])
def test_the_china_regions_get_their_own_partition(region, monkeypatch):
    text = json.dumps(_transformed(region, {}, monkeypatch))
    assert "arn:aws-cn:" in text
    assert not re.search(r"arn:aws:", text), "a hard-coded partition would fail in China"


def test_without_a_domain_nothing_of_it_is_deployed(monkeypatch):
    transformed = _transformed("us-east-1", {}, monkeypatch)
    resources, outputs = transformed["Resources"], transformed["Outputs"]
    assert {name: resources[name]["Condition"] for name in CUSTOM_DOMAIN} == {
        "ApiDomain": "HasCustomDomain",
        "ApiDomainMapping": "HasCustomDomain",
        "ApiDomainRecord": "HasHostedZone",
    }
    parameters = transformed["Parameters"]
    assert all(parameters[name]["Default"] == "" for name in ("DomainName", "CertificateArn", "HostedZoneId"))
    assert outputs["CustomDomainUrl"]["Condition"] == "HasCustomDomain" and "Condition" not in outputs["ApiUrl"]


def test_a_domain_maps_to_the_apis_default_stage(monkeypatch):
    resources = _transformed("us-east-1", {"DomainName": "api.example.com"}, monkeypatch)["Resources"]
    mapping = resources["ApiDomainMapping"]["Properties"]
    assert mapping["ApiId"] == {"Ref": "HttpApi"} and mapping["DomainName"] == {"Ref": "ApiDomain"}
    assert resources[mapping["Stage"]["Ref"]]["Properties"]["StageName"] == "$default"
    domain = resources["ApiDomain"]["Properties"]["DomainNameConfigurations"][0]
    assert domain["EndpointType"] == "REGIONAL" and domain["SecurityPolicy"] == "TLS_1_2"


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("DomainName", "api.example.com", "https://api.example.com"),
        ("CertificateArn", "arn:aws-cn:acm:cn-north-1:123456789012:certificate/0a1b2c3d-4e5f", "arn:aws:s3:::bucket"),
        ("HostedZoneId", "Z0123456789ABCDEFGHIJ", "example.com"),
    ],
)
def test_domain_parameters_refuse_what_would_fail_the_deploy(name, good, bad):
    from local.template import load_template

    pattern = load_template(ROOT / "template.yaml")["Parameters"][name]["AllowedPattern"]
    assert re.fullmatch(pattern, "") and re.fullmatch(pattern, good) and not re.fullmatch(pattern, bad)


def test_cfn_lint_passes_in_the_china_regions_too():
    lint = subprocess.run(  # noqa: S603 - the venv's cfn-lint on our own template
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--regions",
            "cn-north-1",
            "cn-northwest-1",
            "--",
            "template.yaml",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_front_door_is_off_by_default_and_never_in_the_china_regions(monkeypatch):
    """CloudFront with an AWS WAF web ACL, only when FrontDoorWebAclArn is given and the partition is not aws-cn
    (AWS WAF cannot protect CloudFront there); its web ACL template lints in us-east-1, where it must be made."""
    transformed = _transformed("us-east-1", {}, monkeypatch)
    resources, conditions = transformed["Resources"], transformed["Conditions"]
    assert transformed["Parameters"]["FrontDoorWebAclArn"]["Default"] == ""
    front_door = {name for name, resource in resources.items() if resource["Type"].startswith("AWS::CloudFront::")}
    assert front_door == {"FrontDoor", "FrontDoorCachePolicy"}
    assert {resources[name]["Condition"] for name in front_door} == {"HasFrontDoor"}
    assert {"Fn::Not": [{"Fn::Equals": [{"Ref": "AWS::Partition"}, "aws-cn"]}]} in conditions["HasFrontDoor"]["Fn::And"]
    assert transformed["Outputs"]["FrontDoorUrl"]["Condition"] == "HasFrontDoor"
    lint = subprocess.run(  # noqa: S603 - the venv's cfn-lint on our own template
        [str(Path(sys.executable).parent / "cfn-lint"), "--regions", "us-east-1", "--", "deploy/front-door-waf.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_every_samconfig_environment_names_its_region():
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    for environment in ("default", "dev", "prod"):
        assert re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", config[environment]["global"]["parameters"]["region"])
