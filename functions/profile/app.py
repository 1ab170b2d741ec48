"""POST /v1/profile/decrypt and /v1/profile/phone: what the WeChat client gives a logged-in user."""

from wxlogin import api
from wxlogin.access_token import AccessTokens
from wxlogin.appsecrets import AppSecrets
from wxlogin.config import get_settings
from wxlogin.errors import InvalidRequest
from wxlogin.phone import PhoneService
from wxlogin.profile import ProfileService
from wxlogin.store import AccessTokenStore, UserStore
from wxlogin.wechat import WeChatClient

settings = get_settings()
function = api.HttpFunction(settings.tracing)
store = UserStore(settings.table_name)
wechat = WeChatClient.from_settings(settings)
service = ProfileService(store, settings.watermark_max_age_seconds)
access_tokens = AccessTokens(AccessTokenStore(settings.table_name), wechat, AppSecrets.from_settings(settings))
phone = PhoneService(store, access_tokens, wechat, settings.watermark_max_age_seconds)


@function.route("POST /v1/profile/decrypt")
def decrypt_profile():
    event = function.event
    user, _ = api.authenticate(event, store)
    payload = api.encrypted_payload(api.json_body(event))
    return api.json_response(200, service.decrypt_profile(user, payload))


@function.route("POST /v1/profile/phone")
def bind_phone():
    event = function.event
    user, _ = api.authenticate(event, store)
    body = api.json_body(event)
    if "code" in body:
        if api.has_encrypted_payload(body):
            raise InvalidRequest("Send either code or encryptedData and iv, not both.")
        code = api.string_field(body, "code", max_length=128, pattern=api.CODE_PATTERN)
        return api.json_response(200, phone.bind_by_code(user, code))
    return api.json_response(200, phone.bind_by_encrypted_data(user, api.encrypted_payload(body)))


lambda_handler = function.handler
