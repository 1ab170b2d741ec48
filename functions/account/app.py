"""The account routes: GET/PATCH/DELETE /v1/me and POST /v1/auth/logout."""

from wxlogin.config import get_settings
from wxlogin.services.account import AccountService
from wxlogin.services.auth import Authenticator
from wxlogin.storage.users import UserStore
from wxlogin.web import api
from wxlogin.web.parsing import token_ref
from wxlogin.web.route_requests import MeRequest, UpdateMeRequest

settings = get_settings()
function = api.HttpFunction(settings.tracing)
store = UserStore(settings.table_name)
auth = Authenticator(store)
service = AccountService(store)


@function.route("GET /v1/me")
def get_me():
    user = auth.user(token_ref(function.event))
    return api.json_response(200, service.me(user, MeRequest.from_event(function.event)))


# wx.request cannot send PATCH, so Mini Programs update with POST; PATCH stays for other clients.
@function.route("PATCH /v1/me", "POST /v1/me")
def update_me():
    user = auth.user(token_ref(function.event))
    return api.json_response(200, service.update_me(user, UpdateMeRequest.from_event(function.event)))


@function.route("DELETE /v1/me")
def delete_me():
    ref = token_ref(function.event)
    service.delete_me(auth.user(ref), ref)
    return api.json_response(204)


@function.route("POST /v1/auth/logout")
def logout():
    ref = token_ref(function.event)
    service.logout(auth.user(ref), ref)
    return api.json_response(204)


lambda_handler = function.handler
