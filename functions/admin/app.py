"""The admin API: an operator's actions on one user, each route authorized by IAM (SigV4) at API Gateway.

The operator's IAM ARN comes in the request context and is written into the audit trail with each action.
"""

from wxlogin.config import get_settings
from wxlogin.keys.serverkeys import ServerKeys
from wxlogin.services.operator import OperatorService
from wxlogin.storage.account_ids import AccountIds
from wxlogin.storage.audit import AuditTrail
from wxlogin.storage.operator import OperatorStore
from wxlogin.web import api
from wxlogin.web.admin_requests import AdminRequest

settings = get_settings()
function = api.HttpFunction(settings.tracing)
service = OperatorService(
    OperatorStore(settings.table_name),
    AccountIds(settings.table_name),
    AuditTrail(settings.table_name, settings.audit_retention_days),
    # Only for the keyed hash a phone number is found by.
    ServerKeys.from_settings(settings),
)


def _request(reason_required: bool = False) -> AdminRequest:
    return AdminRequest.from_event(function.event, reason_required)


@function.route("POST /admin/users/find")
def find():
    return api.json_response(200, service.find(_request()))


@function.route("POST /admin/users/show")
def show():
    return api.json_response(200, service.show(_request()))


@function.route("POST /admin/users/block")
def block():
    return api.json_response(200, service.block(_request(reason_required=True)))


@function.route("POST /admin/users/unblock")
def unblock():
    return api.json_response(200, service.unblock(_request(reason_required=True)))


@function.route("POST /admin/users/signout")
def sign_out():
    return api.json_response(200, service.sign_out(_request()))


@function.route("POST /admin/users/export")
def export():
    return api.json_response(200, service.export(_request()))


@function.route("POST /admin/users/erase")
def erase():
    return api.json_response(200, service.erase(_request()))


@function.route("POST /admin/users/trail")
def trail():
    return api.json_response(200, service.trail_of(_request()))


lambda_handler = function.handler
