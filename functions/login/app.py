"""POST /v1/auth/login: exchange a wx.login code for our session token."""

from wxlogin import api
from wxlogin.appsecrets import AppSecrets
from wxlogin.config import get_settings
from wxlogin.login import LoginService
from wxlogin.route_requests import LoginRequest
from wxlogin.users import UserStore
from wxlogin.wechat import WeChatClient

settings = get_settings()
function = api.HttpFunction()
app, metrics = function.app, function.metrics
app_secrets = AppSecrets.from_settings(settings)
service = LoginService(settings, UserStore(settings.table_name), app_secrets, WeChatClient.from_settings(settings))


@app.post("/v1/auth/login")
def login():
    answer = service.login(LoginRequest.from_event(function.event))
    metrics.add_metric(name="Logins", unit="Count", value=1)
    if answer["isNewUser"]:
        metrics.add_metric(name="NewUsers", unit="Count", value=1)
    return api.json_response(200, answer)


lambda_handler = function.handler
