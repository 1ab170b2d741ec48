"""The local stand-in for API Gateway's JWT authorizer, configured from the template's pieces, finding the keys
over HTTP through the issuer's discovery document, as API Gateway does."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from local.jwt_authorizer import Denied, IssuerKeys, JwtRoutes
from local.template import load_template, template_resolver
from scripts import signing_keys
from tests.unit.test_signing import APPID, attacks, b64url, mint, segments
from wxlogin.keys.signing import openid_configuration
from wxlogin.keys.signing_keys import parse_key_set

SNIPPET = Path(__file__).with_name("jwt_authorizer_template.yaml")


class Issuer:
    """wxlogin's two discovery routes on 127.0.0.1, serving whatever key set the test holds."""

    def __init__(self):
        self.document = signing_keys.new_key_set("RS256")
        self.fetches: list[str] = []
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the base class's naming
                issuer.fetches.append(self.path)
                key_set = parse_key_set(json.dumps(issuer.document))
                documents = {
                    "/.well-known/openid-configuration": openid_configuration(issuer.url, key_set),
                    "/.well-known/jwks.json": key_set.jwks(),
                }
                body = json.dumps(documents.get(self.path, {"message": "Not Found"})).encode()
                self.send_response(200 if self.path in documents else 404)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def issuer():
    server = Issuer()
    yield server
    server.stop()


def routes_for(issuer: Issuer) -> JwtRoutes:
    template = load_template(SNIPPET)
    # What the template's issuer (!Sub https://${HttpApi}.execute-api...) is locally: the local API's URL.
    resolve = template_resolver(template, {"HttpApi": "local", "AWS::Region": "us-east-1", "AWS::URLSuffix": "x"})
    routes = JwtRoutes.from_template(template, resolve)
    configured = routes.routes[("GET", "/v1/examples/whoami")].authorizer.configuration
    assert configured.issuer == "https://local.execute-api.us-east-1.x" and configured.audience == (APPID,)
    local = template_resolver(template, {})
    return JwtRoutes.from_template({**template, "Resources": _with_issuer(template, issuer.url)}, local)


def _with_issuer(template: dict, url: str) -> dict:
    resources = json.loads(json.dumps(template["Resources"]))
    resources["ExampleApi"]["Properties"]["Auth"]["Authorizers"]["WxLoginAccessToken"]["JwtConfiguration"]["issuer"] = (
        url
    )
    return resources


def authorize(routes: JwtRoutes, token: str | None, path: str = "/v1/examples/whoami", bearer: bool = True):
    headers = {} if token is None else {"Authorization": f"Bearer {token}" if bearer else token}
    return routes.authorize("GET", path, headers)


def test_the_template_pieces_configure_the_routes(issuer):
    routes = routes_for(issuer)
    assert set(routes.routes) == {("GET", "/v1/examples/whoami"), ("GET", "/v1/examples/orders")}
    assert routes.routes[("GET", "/v1/examples/orders")].scopes == ("orders.read",)
    assert authorize(routes, None, path="/v1/examples/health") is None  # Authorizer: NONE
    assert routes.authorize("GET", "/v1/auth/login", {}) is None


def test_a_valid_token_passes_with_its_claims_as_strings_found_through_discovery(issuer):
    routes = routes_for(issuer)
    token = mint(issuer.document, issuer=issuer.url)
    for bare in (False, True):
        context = authorize(routes, token, bearer=not bare)
        claims = context["jwt"]["claims"]
        assert claims["openid"] == "o-alice" and claims["aud"] == APPID and claims["iss"] == issuer.url
        assert all(isinstance(value, str) for value in claims.values())
        assert claims["exp"] == str(segments(token)[1]["exp"])
        assert context["jwt"]["scopes"] is None
    assert issuer.fetches == ["/.well-known/openid-configuration", "/.well-known/jwks.json"]  # then cached


def expect_denied(routes: JwtRoutes, token: str | None, status: int = 401, **kwargs) -> None:
    with pytest.raises(Denied) as raised:
        authorize(routes, token, **kwargs)
    assert raised.value.status == status
    assert json.loads(raised.value.body) == {"message": "Unauthorized" if status == 401 else "Forbidden"}


def test_every_attack_is_refused_with_401(issuer):
    routes = routes_for(issuer)
    for name, token in attacks(issuer.document, issuer.url).items():
        if name != "not typed as an access token":  # API Gateway does not look at typ; the other 15 it refuses
            expect_denied(routes, token)


def test_tampering_with_a_token_this_issuer_signed_is_refused(issuer):
    routes = routes_for(issuer)
    good = mint(issuer.document, issuer=issuer.url)
    head, body, sig = good.split(".")
    payload = segments(good)[1]
    expect_denied(routes, f"{head}.{b64url(json.dumps({**payload, 'openid': 'o-mallory'}).encode())}.{sig}")
    expect_denied(routes, f"{head}.{body}.{sig[:-2]}{'AA' if sig[-2:] != 'AA' else 'BB'}")
    assert authorize(routes, good)["jwt"]["claims"]["openid"] == "o-alice"


def test_missing_or_odd_authorization_is_refused(issuer):
    routes = routes_for(issuer)
    good = mint(issuer.document, issuer=issuer.url)
    expect_denied(routes, None)
    for header in ("", "Bearer", "Bearer ", f"Basic {good}", f"bearer{good}"):
        expect_denied(routes, header, bearer=False)


def test_es256_is_refused_as_http_apis_verify_only_rsa(issuer):
    issuer.document = signing_keys.new_key_set("ES256")
    routes = routes_for(issuer)
    expect_denied(routes, mint(issuer.document, issuer=issuer.url))


def test_client_id_stands_for_a_missing_aud_and_route_scopes_are_enforced(issuer):
    import jwt

    routes = routes_for(issuer)
    key = parse_key_set(json.dumps(issuer.document)).signing_key
    now = int(time.time())

    def token(**claims) -> str:
        body = {"iss": issuer.url, "iat": now, "exp": now + 60, "sub": "s", **claims}
        return jwt.encode(body, key.private_key, algorithm="RS256", headers={"kid": key.kid})

    assert authorize(routes, token(client_id=APPID))["jwt"]["claims"]["client_id"] == APPID
    expect_denied(routes, token(client_id="other"))
    expect_denied(routes, token(aud="other", client_id=APPID))  # aud, when present, is what counts
    expect_denied(routes, token(aud=APPID, exp=now - 1))
    expect_denied(routes, token(aud=APPID, nbf=now + 60))
    without_exp = jwt.encode({"iss": issuer.url, "aud": APPID}, key.private_key, "RS256", headers={"kid": key.kid})
    expect_denied(routes, without_exp)

    orders = "/v1/examples/orders"
    expect_denied(routes, token(aud=APPID), status=403, path=orders)
    expect_denied(routes, token(aud=APPID, scope="orders.write"), status=403, path=orders)
    context = authorize(routes, token(aud=APPID, scope="profile orders.read"), path=orders)
    assert context["jwt"]["scopes"] == ["profile", "orders.read"]
    assert authorize(routes, token(aud=APPID, scp=["orders.read"]), path=orders)["jwt"]["scopes"] == ["orders.read"]


def test_rotation_an_unseen_kid_refetches_the_jwks_and_a_removed_key_stops_passing(issuer):
    routes = routes_for(issuer)
    first = issuer.document
    old_kid = first["signingKeyId"]
    before = mint(first, issuer=issuer.url)
    assert authorize(routes, before)

    added, new_kid = signing_keys.add_key(first)
    issuer.document = signing_keys.retire(signing_keys.promote(added, new_kid), old_kid)
    after = mint(issuer.document, issuer=issuer.url)
    keys = routes.routes[("GET", "/v1/examples/whoami")].authorizer.keys
    keys.min_refresh = 0  # the cache's guard against floods is tested on its own below
    assert authorize(routes, after)["jwt"]["claims"]["openid"] == "o-alice"  # new kid: fetched again
    assert authorize(routes, before)["jwt"]["claims"]["openid"] == "o-alice"  # old kid: still published

    issuer.document = signing_keys.remove(issuer.document, old_kid)
    keys.max_age = 0  # the cached JWKS has expired
    expect_denied(routes, before)
    assert authorize(routes, after)


def test_unknown_kids_refetch_at_most_once_per_interval_and_unreachable_keys_refuse(issuer):
    now = [1000.0]
    keys = IssuerKeys(issuer.url, max_age=300, min_refresh=5, clock=lambda: now[0])
    kid = issuer.document["signingKeyId"]
    assert keys.key(kid)["kid"] == kid
    for _ in range(20):
        assert keys.key("forged") is None
    assert issuer.fetches.count("/.well-known/jwks.json") == 1
    now[0] += 5
    assert keys.key("forged") is None
    assert issuer.fetches.count("/.well-known/jwks.json") == 2

    issuer.stop()
    unreachable = IssuerKeys(issuer.url)
    assert unreachable.key(kid) is None
