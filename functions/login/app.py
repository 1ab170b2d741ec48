"""POST /v1/auth/login: a WeChat login code in, a session token and an access token out.

Refresh (functions/refresh) and the published keys (functions/published_keys) run apart, so neither a
refreshing client nor a verifier fetching keys can take this function's reserved concurrency.
"""

from wxlogin.config import get_settings
from wxlogin.keys.appsecrets import AppSecrets, SecretsManagerProvider
from wxlogin.keys.serverkeys import ServerKeys
from wxlogin.keys.signing import AccessTokenSigner
from wxlogin.keys.tokens import parse_token
from wxlogin.services.login import LoginService
from wxlogin.services.signup_risk import SignUpRisk
from wxlogin.storage.users import UserStore
from wxlogin.web import api
from wxlogin.web.route_requests import LoginRequest
from wxlogin.wechat.client import WeChatClient

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
signer = AccessTokenSigner.from_settings(settings, secrets)


def count_refused_code() -> None:
    """A code WeChat refused (40029, 40163): the RefusedCodes metric, which the template alarms on."""
    metrics.add_metric(name="RefusedCodes", unit="Count", value=1)


service = LoginService(
    settings,
    store,
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


lambda_handler = function.handler
