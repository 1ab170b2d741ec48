"""The account routes: GET/PATCH/DELETE /v1/me and POST /v1/auth/logout."""

from wxlogin import api
from wxlogin.account import AccountService, me_view
from wxlogin.config import get_settings
from wxlogin.errors import InvalidRequest
from wxlogin.store import UserStore

settings = get_settings()
function = api.HttpFunction(settings.tracing)
store = UserStore(settings.table_name)
service = AccountService(store)


@function.route("GET /v1/me")
def get_me():
    event = function.event
    user, _ = api.authenticate(event, store)
    # Linked apps cost a second DynamoDB request, so only callers that ask for them pay it.
    include = (event.get("queryStringParameters") or {}).get("include", "")
    if include not in ("", "linkedApps"):
        raise InvalidRequest("include may only be linkedApps.")
    linked = store.linked_users(user) if include == "linkedApps" else None
    return api.json_response(200, me_view(user, linked))


# wx.request cannot send PATCH, so Mini Programs update with POST; PATCH stays for other clients.
@function.route("PATCH /v1/me", "POST /v1/me")
def update_me():
    event = function.event
    user, _ = api.authenticate(event, store)
    return api.json_response(200, service.update_me(user, api.json_body(event)))


@function.route("DELETE /v1/me")
def delete_me():
    user, ref = api.authenticate(function.event, store)
    service.delete_me(user, ref)
    return api.json_response(204)


@function.route("POST /v1/auth/logout")
def logout():
    service.logout(api.token_ref(function.event))
    return api.json_response(204)


lambda_handler = function.handler
