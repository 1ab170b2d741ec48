"""POST /v1/auth/login: exchange a wx.login code for our session token."""

from wxlogin import api
from wxlogin.appsecrets import APPID_PATTERN, AppSecrets
from wxlogin.config import get_settings
from wxlogin.login import LoginRequest, LoginService
from wxlogin.store import UserStore
from wxlogin.wechat import WeChatClient

settings = get_settings()
function = api.HttpFunction(settings.tracing)
metrics = function.metrics
service = LoginService(
    settings, UserStore(settings.table_name), AppSecrets.from_settings(settings), WeChatClient.from_settings(settings)
)


@function.route("POST /v1/auth/login")
def login():
    event = function.event
    body = api.json_body(event)
    request = LoginRequest(
        code=api.string_field(body, "code", max_length=128, pattern=api.CODE_PATTERN),
        appid=api.string_field(body, "appid", required=False, max_length=64, pattern=APPID_PATTERN),
        encrypted=api.encrypted_payload(body) if api.has_encrypted_payload(body) else None,
        idempotency_key=api.idempotency_key(event),
    )
    answer = service.login(request)
    metrics.add_metric(name="Logins", unit="Count", value=1)
    if answer["isNewUser"]:
        metrics.add_metric(name="NewUsers", unit="Count", value=1)
    return api.json_response(200, answer)


lambda_handler = function.handler
