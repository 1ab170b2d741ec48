"""Access tokens end to end through the local stack: the example route behind the template's JWT authorizer,
reached only with a valid access token, refresh, and refresh refused after logout and erasure."""

from __future__ import annotations

import json

import pytest
import requests

from local.stack import DEV_APP_ID, LOCAL_SIGNING_KEYS_ID, LocalStack, Ports
from tests.unit.test_signing import attacks, private_material

WHOAMI = "/v1/examples/whoami"


@pytest.fixture(scope="module")
def stack():
    from moto.moto_api._internal import moto_api_backend

    # moto's server keeps its state in this process's backends, which outlive a stopped server: the
    # other e2e module's stack starts from an empty table only if this one leaves none behind.
    moto_api_backend.reset()
    try:
        with LocalStack(ports=Ports(0, 0, 0), quiet=True) as running:
            yield running
    finally:
        moto_api_backend.reset()


def call(stack, method: str, path: str, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, stack.api_url + path, headers=headers, timeout=30)


def login(stack, user: str) -> dict:
    code = requests.post(stack.wechat.base_url + "/_sim/login", json={"appid": DEV_APP_ID, "user": user}, timeout=5)
    answer = requests.post(stack.api_url + "/v1/auth/login", json={"code": code.json()["code"]}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def key_set(stack) -> dict:
    secrets = stack.aws_client("secretsmanager")
    return json.loads(secrets.get_secret_value(SecretId=LOCAL_SIGNING_KEYS_ID)["SecretString"])


def refused(answer: requests.Response) -> bool:
    return answer.status_code == 401 and answer.json() == {"message": "Unauthorized"}


def test_the_example_route_answers_the_verified_claims_only_with_a_valid_access_token(stack):
    me = login(stack, "ada")
    answer = call(stack, "GET", WHOAMI, me["accessToken"])
    assert answer.status_code == 200
    claims = answer.json()
    assert claims["openid"] == me["openid"] and claims["appid"] == DEV_APP_ID and claims["sub"]
    assert refused(call(stack, "GET", WHOAMI))
    assert refused(call(stack, "GET", WHOAMI, me["token"]))  # a session token is no access token
    assert call(stack, "GET", "/v1/me", me["accessToken"]).status_code == 401  # nor the reverse


def test_expired_forged_and_tampered_tokens_are_refused_by_the_authorizer(stack):
    for name, token in attacks(key_set(stack), stack.api_url).items():
        # API Gateway does not look at the typ header; everything else it refuses.
        if name != "not typed as an access token":
            assert refused(call(stack, "GET", WHOAMI, token)), name


def test_refresh_works_until_logout_or_erasure_and_an_issued_token_lives_until_it_expires(stack):
    me = login(stack, "bea")
    refreshed = call(stack, "POST", "/v1/auth/token", me["token"])
    assert refreshed.status_code == 200 and 675 < refreshed.json()["accessTokenExpiresIn"] <= 900
    assert call(stack, "GET", WHOAMI, refreshed.json()["accessToken"]).status_code == 200
    assert call(stack, "POST", "/v1/auth/logout", me["token"]).status_code == 204
    assert call(stack, "POST", "/v1/auth/token", me["token"]).status_code == 401
    # The documented bound (docs/access-tokens.md): an access token is not revocable; it stays valid until its exp.
    assert call(stack, "GET", WHOAMI, refreshed.json()["accessToken"]).status_code == 200

    erased = login(stack, "cyd")
    assert call(stack, "DELETE", "/v1/me", erased["token"]).status_code == 204
    assert call(stack, "POST", "/v1/auth/token", erased["token"]).status_code == 401


def test_discovery_names_the_stack_itself_and_the_keys_hold_no_private_material(stack):
    discovery = call(stack, "GET", "/.well-known/openid-configuration").json()
    assert discovery["issuer"] == stack.api_url and discovery["jwks_uri"] == stack.api_url + "/.well-known/jwks.json"
    published = call(stack, "GET", "/.well-known/jwks.json").text
    assert not any(line in published for line in private_material(key_set(stack)))
