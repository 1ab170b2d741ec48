"""POST /v1/auth/login: exchange a wx.login code for our session token."""

from wxlogin import api
from wxlogin.appsecrets import AppSecrets
from wxlogin.config import get_settings
from wxlogin.login import LoginService
from wxlogin.route_requests import LoginRequest
from wxlogin.serverkeys import ServerKeys
from wxlogin.users import UserStore
from wxlogin.wechat import WeChatClient

settings = get_settings()
function = api.HttpFunction(settings.tracing)
metrics = function.metrics
app_secrets = AppSecrets.from_settings(settings)
keys = ServerKeys.from_settings(settings)
wechat = WeChatClient.from_settings(settings)
service = LoginService(settings, UserStore(settings.table_name), app_secrets, wechat, keys)


@function.route("POST /v1/auth/login")
def login():
    seconds_left = function.context.get_remaining_time_in_millis() / 1000
    answer = service.login(LoginRequest.from_event(function.event), seconds_left)
    metrics.add_metric(name="Logins", unit="Count", value=1)
    if answer["isNewUser"]:
        metrics.add_metric(name="NewUsers", unit="Count", value=1)
    return api.json_response(200, answer)


lambda_handler = function.handler
