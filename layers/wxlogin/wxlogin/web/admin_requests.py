"""The admin API's requests: who the operator is (API Gateway's IAM check) and which user they name.

Every admin route takes a JSON body naming one user by exactly one identifier:
`{"sub"}`, `{"appid", "openid"}`, `{"unionid"}` or `{"phone"}`, and, where the action changes the
account, a `reason` kept in the audit trail. The operator is the IAM identity API Gateway verified
(`requestContext.authorizer.iam`); a request without one never reaches an action, even if the route
were deployed without IAM authorization.
"""

from __future__ import annotations

import re

from wxlogin.errors import InvalidRequest, Unauthorized
from wxlogin.records import hidden, record
from wxlogin.web.parsing import json_body, string_field
from wxlogin.web.route_requests import APPID_PATTERN

IDENTIFIER_PATTERN = re.compile(r"^[A-Za-z0-9_.=-]{1,128}$")
SELECTORS = ({"sub"}, {"appid", "openid"}, {"unionid"}, {"phone"})
MAX_REASON_LENGTH = 500
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@record
class UserSelector:
    """Exactly one way of naming a user; the fields it does not use are None."""

    sub: str | None = None
    appid: str | None = None
    openid: str | None = None
    unionid: str | None = None
    # Out of repr, so no log line that prints the selector holds the number.
    phone: str | None = hidden(None)


@record
class AdminRequest:
    operator: str
    selector: UserSelector
    reason: str | None

    @classmethod
    def from_event(cls, event: dict, reason_required: bool = False) -> AdminRequest:
        operator = operator_arn(event)
        body = json_body(event)
        unknown = set(body) - {"sub", "appid", "openid", "unionid", "phone", "reason"}
        if unknown:
            raise InvalidRequest(f"Unknown field {sorted(unknown)[0]}.")
        named = set(body) - {"reason"}
        if named not in SELECTORS:
            raise InvalidRequest("Name the user by exactly one of: sub, appid and openid, unionid, phone.")
        fields = {}
        for name in named:
            pattern = APPID_PATTERN if name == "appid" else None if name == "phone" else IDENTIFIER_PATTERN
            fields[name] = string_field(body, name, max_length=128, pattern=pattern)
        reason = string_field(body, "reason", required=reason_required, max_length=MAX_REASON_LENGTH)
        if reason is not None and (_CONTROL.search(reason) or not reason.strip()):
            raise InvalidRequest("reason must be printable text.")
        return cls(operator, UserSelector(**fields), reason)


def operator_arn(event: dict) -> str:
    """The caller's IAM ARN as API Gateway's IAM authorization passed it."""
    iam = ((event.get("requestContext") or {}).get("authorizer") or {}).get("iam") or {}
    arn = iam.get("userArn")
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        raise Unauthorized("An IAM-signed request is required.")
    return arn
