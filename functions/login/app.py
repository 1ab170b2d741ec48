"""POST /v1/auth/login and /v1/auth/token, and the published keys: the one function that signs access tokens.

It alone holds the signing keys (its role alone reads their secret), so the JWKS and the discovery
document are served here too, from the same cached key set; the account function never imports them.
"""

from wxlogin.config import get_settings
from wxlogin.keys.appsecrets import AppSecrets, SecretsManagerProvider
from wxlogin.keys.serverkeys import ServerKeys
from wxlogin.keys.signing import AccessTokenSigner, openid_configuration
from wxlogin.keys.tokens import parse_token
from wxlogin.services.auth import Authenticator
from wxlogin.services.login import LoginService
from wxlogin.services.signup_risk import SignUpRisk
from wxlogin.storage.login_records import LoginRecords
from wxlogin.storage.users import UserStore
from wxlogin.web import api
from wxlogin.web.parsing import token_ref
from wxlogin.web.route_requests import LoginRequest
from wxlogin.wechat.client import WeChatClient

# Verifiers (API Gateway, JWT libraries) re-read the keys at most this often; rotation waits for it (docs/operating.md).
PUBLISHED_MAX_AGE_SECONDS = 300

settings = get_settings()
function = api.HttpFunction(settings.tracing)
metrics = function.metrics
# A cold login needs all three secrets: one BatchGetSecretValue reads them, not three requests (make bench).
secrets = SecretsManagerProvider(
    read_together=(settings.app_secrets_id, settings.data_keys_secret_id, settings.signing_keys_id)
)
app_secrets = AppSecrets.from_settings(settings, secrets)
keys = ServerKeys.from_settings(settings, secrets)
wechat = WeChatClient.from_settings(settings, on_call=api.wechat_latency_metric(metrics))
store = UserStore(settings.table_name)
auth = Authenticator(store)
signer = AccessTokenSigner.from_settings(settings, secrets)


def count_refused_code() -> None:
    """A code WeChat refused (40029, 40163): the RefusedCodes metric, which the template alarms on."""
    metrics.add_metric(name="RefusedCodes", unit="Count", value=1)


service = LoginService(
    settings,
    store,
    LoginRecords(settings.table_name),
    app_secrets,
    wechat,
    keys,
    on_refused_code=count_refused_code,
    risk=SignUpRisk.from_settings(settings, store, wechat, app_secrets, keys),
)


@function.route("POST /v1/auth/login")
def login():
    request = LoginRequest.from_event(function.event)
    # Before the code exchange: a login that cannot sign must fail while its code is still unused.
    signer.key_set()
    outcome = service.login(request, function.deadline)
    answer = outcome.answer
    issuer = signer.issuer(function.event)
    # The session's access token of the moment: a replayed login gets the same one as its first answer.
    answer.update(
        signer.answer(
            issuer,
            session=parse_token(answer["token"]),
            subject=outcome.subject,
            appid=outcome.appid,
            openid=answer["openid"],
            unionid=answer["unionid"],
        )
    )
    if not outcome.replayed:
        metrics.add_metric(name="Logins", unit="Count", value=1)
        if answer["isNewUser"]:
            metrics.add_metric(name="NewUsers", unit="Count", value=1)
    return api.json_response(200, answer)


@function.route("POST /v1/auth/token")
def refresh_access_token():
    session = token_ref(function.event)
    user = auth.user(session)
    issuer = signer.issuer(function.event)
    # While the session's current token is young this is that same token: a refresh loop mints no more.
    answer = signer.answer(
        issuer, session=session, subject=user.sub, appid=user.appid, openid=user.openid, unionid=user.unionid
    )
    return api.json_response(200, answer)


@function.route("GET /.well-known/jwks.json")
def jwks():
    return api.public_json_response(signer.keys.published().jwks(), PUBLISHED_MAX_AGE_SECONDS)


@function.route("GET /.well-known/openid-configuration")
def discovery():
    document = openid_configuration(signer.issuer(function.event), signer.keys.published())
    return api.public_json_response(document, PUBLISHED_MAX_AGE_SECONDS)


lambda_handler = function.handler
