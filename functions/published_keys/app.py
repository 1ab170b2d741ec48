"""GET /.well-known/jwks.json and /.well-known/openid-configuration: the published keys, apart from login.

Verifiers (API Gateway's JWT authorizers, JWT libraries) fetch these; served here, their traffic never
reaches the login function's concurrency, and its own route throttle and concurrency bound it. This
function reads only the published-keys secret, the signing keys' public halves (`scripts/signing_keys.py
publish`): it can sign nothing. The documents are the ones the login function served, byte for byte.
"""

from wxlogin.config import get_settings
from wxlogin.keys.appsecrets import SecretsManagerProvider
from wxlogin.keys.signing import AccessTokenSigner, openid_configuration
from wxlogin.keys.signing_keys import SigningKeys
from wxlogin.web import api

# Verifiers re-read the keys at most this often; rotation waits for it (docs/operating.md).
PUBLISHED_MAX_AGE_SECONDS = 300

settings = get_settings()
function = api.HttpFunction(settings.tracing)
secrets = SecretsManagerProvider()
keys = SigningKeys.published_from_settings(settings, secrets)
# Only for the issuer: the same rule as the tokens' (a configured issuer, else the request's domain).
publisher = AccessTokenSigner(keys, settings.access_token_ttl_seconds, issuer=settings.access_token_issuer)


@function.route("GET /.well-known/jwks.json")
def jwks():
    return api.public_json_response(keys.published().jwks(), PUBLISHED_MAX_AGE_SECONDS)


@function.route("GET /.well-known/openid-configuration")
def discovery():
    document = openid_configuration(publisher.issuer(function.event), keys.published())
    return api.public_json_response(document, PUBLISHED_MAX_AGE_SECONDS)


lambda_handler = function.handler
