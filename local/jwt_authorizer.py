"""API Gateway's HTTP API JWT authorizer, for the local gateway, configured from template.yaml.

It knows nothing of wxlogin's code: like API Gateway it finds the keys through
the issuer's discovery document (`{issuer}/.well-known/openid-configuration`,
then its `jwks_uri`) over HTTP, so a route behind it locally accepts exactly
the tokens a deployed one would. What it enforces, in API Gateway's order:

- the identity source (`$request.header.<Name>`) holds the token, bare or after `Bearer `;
- the token is a JWS signed with an RSA algorithm (the only kind HTTP APIs verify)
  by the JWKS key its `kid` names; an unknown kid makes it fetch the JWKS again;
- `iss` equals the issuer; `aud` (or `client_id` when there is no `aud`) is one of
  the audiences; `exp` is in the future; `nbf` and `iat`, when present, are not;
- the route's authorization scopes, if any: `scope`/`scp` holds at least one (403 otherwise).

Refused: 401 `{"message":"Unauthorized"}`. Allowed: the event's
`requestContext.authorizer` is `{"jwt": {"claims": {...}, "scopes": [...] | None}}`
with every claim turned into a string, as API Gateway passes them.

The gateway calls `JwtRoutes.from_template(...)` once, then `authorize(method, path, headers)`
per request; `Denied` carries the answer to send instead of invoking the function.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

LOG = logging.getLogger("wxlogin.local")

API_GATEWAY_ALGORITHMS = ("RS256", "RS384", "RS512")
DISCOVERY_PATH = "/.well-known/openid-configuration"
IDENTITY_SOURCE_DEFAULT = "$request.header.Authorization"
IDENTITY_SOURCE = re.compile(r"^\$request\.header\.([A-Za-z0-9!#$%&'*+.^_`|~-]+)$")
FETCH_TIMEOUT_SECONDS = 3
MAX_DOCUMENT_BYTES = 64 * 1024


class Denied(Exception):
    """The gateway answers this instead of invoking the function."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.headers = {"content-type": "application/json"}
        self.body = json.dumps({"message": message}, separators=(",", ":"))


def unauthorized() -> Denied:
    return Denied(401, "Unauthorized")


def http_get_json(url: str) -> dict:
    """GET a JSON document, as API Gateway reads an issuer's discovery document and key set."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url!r}")
    request = urllib.request.Request(url, headers={"accept": "application/json"})  # noqa: S310 - scheme checked above
    with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310 - as above
        document = json.loads(response.read(MAX_DOCUMENT_BYTES + 1)[:MAX_DOCUMENT_BYTES])
    if not isinstance(document, dict):
        raise ValueError(f"{url} did not answer a JSON object")
    return document


@dataclass(frozen=True)
class JwtConfiguration:
    issuer: str
    audience: tuple[str, ...]
    identity_source: str = IDENTITY_SOURCE_DEFAULT

    def __post_init__(self):
        if not IDENTITY_SOURCE.match(self.identity_source):
            raise ValueError(f"identity source {self.identity_source!r}: only $request.header.<Name> is supported")
        if not self.issuer or not self.audience:
            raise ValueError("a JWT authorizer needs an issuer and at least one audience")

    @property
    def header_name(self) -> str:
        return IDENTITY_SOURCE.match(self.identity_source).group(1).lower()


@dataclass
class IssuerKeys:
    """An issuer's published keys: the discovery document read once, the JWKS cached for max_age and read
    again when a token names a kid it lacks (at most once per min_refresh, so forged kids cannot flood it)."""

    issuer: str
    fetch_json: Callable[[str], dict] = http_get_json
    max_age: float = 300.0
    min_refresh: float = 1.0
    clock: Callable[[], float] = time.monotonic
    _jwks_uri: str | None = field(default=None, init=False)
    _keys: dict[str, dict] = field(default_factory=dict, init=False)
    _fetched_at: float | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def _refresh(self) -> None:
        if self._jwks_uri is None:
            discovery = self.fetch_json(self.issuer.rstrip("/") + DISCOVERY_PATH)
            if discovery.get("issuer") != self.issuer or not isinstance(discovery.get("jwks_uri"), str):
                raise ValueError(f"the discovery document of {self.issuer} names another issuer or no jwks_uri")
            self._jwks_uri = discovery["jwks_uri"]
        jwks = self.fetch_json(self._jwks_uri)
        keys = jwks.get("keys")
        if not isinstance(keys, list):
            raise ValueError(f"{self._jwks_uri} holds no keys")
        self._keys = {key["kid"]: key for key in keys if isinstance(key, dict) and isinstance(key.get("kid"), str)}
        self._fetched_at = self.clock()

    def key(self, kid: str) -> dict | None:
        with self._lock:
            now = self.clock()
            stale = self._fetched_at is None or now - self._fetched_at >= self.max_age
            unknown = kid not in self._keys and (self._fetched_at is None or now - self._fetched_at >= self.min_refresh)
            if stale or unknown:
                try:
                    self._refresh()
                except (OSError, ValueError) as exc:
                    LOG.warning("JWT authorizer: cannot read the keys of %s: %s", self.issuer, exc)
                    return None
            return self._keys.get(kid)


def _claim_string(value) -> str:
    """A claim as API Gateway passes it to the function: every value a string."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(_claim_string(item) for item in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _token_scopes(claims: dict) -> list[str] | None:
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            return value.split()
        if isinstance(value, list):
            return [str(item) for item in value]
    return None


@dataclass
class JwtAuthorizer:
    configuration: JwtConfiguration
    keys: IssuerKeys

    def authorize(self, headers: dict, scopes: tuple[str, ...] = ()) -> dict:
        """`requestContext.authorizer` for the function; raises Denied when API Gateway would refuse."""
        import jwt

        lowered = {name.lower(): value for name, value in headers.items()}
        token = (lowered.get(self.configuration.header_name) or "").strip()
        if token.startswith("Bearer "):
            token = token[len("Bearer ") :].strip()
        if not token:
            raise unauthorized()
        try:
            header = jwt.get_unverified_header(token)
            kid = header.get("kid")
            jwk = self.keys.key(kid) if isinstance(kid, str) else None
            if jwk is None or header.get("alg") not in API_GATEWAY_ALGORITHMS or jwk.get("kty") != "RSA":
                raise unauthorized()
            if jwk.get("alg") not in (None, header["alg"]) or jwk.get("use") not in (None, "sig"):
                raise unauthorized()
            claims = jwt.decode(
                token,
                jwt.PyJWK(jwk, algorithm=header["alg"]),
                algorithms=[header["alg"]],
                issuer=self.configuration.issuer,
                options={"require": ["exp", "iss"], "verify_aud": False},
            )
        except (jwt.PyJWTError, ValueError, TypeError):
            raise unauthorized() from None
        audiences = claims["aud"] if "aud" in claims else claims.get("client_id")
        audiences = audiences if isinstance(audiences, list) else [audiences]
        if not any(isinstance(aud, str) and aud in self.configuration.audience for aud in audiences):
            raise unauthorized()
        token_scopes = _token_scopes(claims)
        if scopes and not set(scopes) & set(token_scopes or ()):
            raise Denied(403, "Forbidden")
        return {
            "jwt": {"claims": {name: _claim_string(value) for name, value in claims.items()}, "scopes": token_scopes}
        }


@dataclass(frozen=True)
class RouteAuthorization:
    authorizer: JwtAuthorizer
    scopes: tuple[str, ...]


@dataclass
class JwtRoutes:
    """The template's JWT-protected routes: (METHOD, path) -> the authorizer and scopes API Gateway applies."""

    routes: dict[tuple[str, str], RouteAuthorization]

    @classmethod
    def from_template(
        cls, template: dict, resolve: Callable[[object], str], fetch_json: Callable[[str], dict] = http_get_json
    ) -> JwtRoutes:
        resources = template.get("Resources", {})
        authorizers: dict[tuple[str, str], JwtAuthorizer] = {}
        defaults: dict[str, str] = {}
        for api_id, resource in resources.items():
            if resource.get("Type") != "AWS::Serverless::HttpApi":
                continue
            auth = resource.get("Properties", {}).get("Auth", {})
            for name, spec in auth.get("Authorizers", {}).items():
                jwt_config = spec.get("JwtConfiguration")
                if jwt_config is None:
                    continue
                issuer = resolve(jwt_config.get("issuer", jwt_config.get("Issuer")))
                audience = tuple(resolve(value) for value in jwt_config.get("audience", jwt_config.get("Audience", [])))
                configuration = JwtConfiguration(issuer, audience, spec.get("IdentitySource", IDENTITY_SOURCE_DEFAULT))
                authorizers[(api_id, name)] = JwtAuthorizer(configuration, IssuerKeys(issuer, fetch_json))
            if "DefaultAuthorizer" in auth:
                defaults[api_id] = auth["DefaultAuthorizer"]
        routes = {}
        for resource in resources.values():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            for event in resource.get("Properties", {}).get("Events", {}).values():
                props = event.get("Properties", {})
                api = props.get("ApiId")
                if event.get("Type") != "HttpApi" or not (isinstance(api, dict) and set(api) == {"Ref"}):
                    continue
                auth = props.get("Auth", {})
                name = auth.get("Authorizer", defaults.get(api["Ref"]))
                if name is None or name == "NONE" or (api["Ref"], name) not in authorizers:
                    continue
                routes[(props["Method"].upper(), props["Path"])] = RouteAuthorization(
                    authorizers[(api["Ref"], name)], tuple(auth.get("AuthorizationScopes", ()))
                )
        return cls(routes)

    def authorize(self, method: str, path: str, headers: dict) -> dict | None:
        """The route's `requestContext.authorizer`, None for a route without a JWT authorizer; raises Denied."""
        route = self.routes.get((method.upper(), path))
        if route is None:
            return None
        return route.authorizer.authorize(headers, route.scopes)
