"""POST /v1/profile/decrypt and /v1/profile/phone: what the WeChat client gives a logged-in user."""

from wxlogin.config import get_settings
from wxlogin.keys.appsecrets import AppSecrets, SecretsManagerProvider
from wxlogin.keys.serverkeys import ServerKeys
from wxlogin.services.auth import Authenticator
from wxlogin.services.phone import PhoneService
from wxlogin.services.profile import ProfileService
from wxlogin.services.session_keys import SessionKeyCheck, StoredSessionKeys
from wxlogin.storage.access_token_store import AccessTokenStore
from wxlogin.storage.users import UserStore
from wxlogin.web import api
from wxlogin.web.parsing import token_ref
from wxlogin.web.route_requests import DecryptRequest, PhoneRequest
from wxlogin.wechat.access_token import AccessTokens
from wxlogin.wechat.client import WeChatClient

settings = get_settings()
function = api.HttpFunction(settings.tracing)
store = UserStore(settings.table_name)
auth = Authenticator(store)
wechat = WeChatClient.from_settings(settings, on_call=api.wechat_latency_metric(function.metrics))
# A cold instance reads both secrets in one BatchGetSecretValue, as the login function does: its first phone
# number may need a new access token (the AppSecret) as well as the data keys.
secrets = SecretsManagerProvider(read_together=(settings.app_secrets_id, settings.data_keys_secret_id))
app_secrets = AppSecrets.from_settings(settings, secrets)
keys = ServerKeys.from_settings(settings, secrets)
access_tokens = AccessTokens(AccessTokenStore(settings.table_name, keys), wechat, app_secrets)
session_keys = StoredSessionKeys(
    keys, SessionKeyCheck(store, access_tokens, wechat, settings.session_key_check_interval_seconds)
)
service = ProfileService(store, session_keys, settings.watermark_max_age_seconds)
phone = PhoneService(store, access_tokens, wechat, session_keys, settings.watermark_max_age_seconds)


@function.route("POST /v1/profile/decrypt")
def decrypt_profile():
    ref = token_ref(function.event)
    user = auth.user(ref)
    return api.json_response(
        200, service.decrypt_profile(user, ref, DecryptRequest.from_event(function.event), function.deadline)
    )


@function.route("POST /v1/profile/phone")
def bind_phone():
    ref = token_ref(function.event)
    user = auth.user(ref)
    return api.json_response(200, phone.bind(user, ref, PhoneRequest.from_event(function.event), function.deadline))


lambda_handler = function.handler
