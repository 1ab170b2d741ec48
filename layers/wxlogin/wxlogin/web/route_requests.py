"""Each route's input as one typed request, built from the event; every field's rule is stated once.

A handler reads as: authenticate (protected routes), build the request, call the service, answer.
Bad input raises InvalidRequest before anything is read or stored.
"""

from __future__ import annotations

import re

from wxlogin.errors import InvalidRequest
from wxlogin.records import hidden, record
from wxlogin.services.user_fields import avatar_url, nickname
from wxlogin.services.userdata import EncryptedPayload
from wxlogin.web.parsing import (
    code_field,
    encrypted_payload,
    has_encrypted_payload,
    idempotency_key,
    json_body,
    query_parameter,
    string_field,
)

APPID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_APPID_LENGTH = 64


@record
class LoginRequest:
    """POST /v1/auth/login."""

    code: str = hidden()
    appid: str | None = None
    encrypted: EncryptedPayload | None = None
    idempotency_key: str | None = hidden(None)
    # API Gateway's view of the client's address, which WeChat's getuserriskrank requires (sent there, never kept).
    client_ip: str | None = hidden(None)

    @classmethod
    def from_event(cls, event) -> LoginRequest:
        body = json_body(event)
        address = ((event.get("requestContext") or {}).get("http") or {}).get("sourceIp")
        return cls(
            code=code_field(body),
            appid=string_field(body, "appid", required=False, max_length=MAX_APPID_LENGTH, pattern=APPID_PATTERN),
            encrypted=encrypted_payload(body) if has_encrypted_payload(body) else None,
            idempotency_key=idempotency_key(event),
            client_ip=address or None,
        )


@record
class DecryptRequest:
    """POST /v1/profile/decrypt."""

    payload: EncryptedPayload

    @classmethod
    def from_event(cls, event) -> DecryptRequest:
        return cls(encrypted_payload(json_body(event)))


@record
class PhoneRequest:
    """POST /v1/profile/phone: the button's `code` (current clients) or `encryptedData`/`iv` (older ones)."""

    code: str | None = hidden(None)
    encrypted: EncryptedPayload | None = None

    @classmethod
    def from_event(cls, event) -> PhoneRequest:
        body = json_body(event)
        if "code" not in body:
            return cls(encrypted=encrypted_payload(body))
        if has_encrypted_payload(body):
            raise InvalidRequest("Send either code or encryptedData and iv, not both.")
        return cls(code=code_field(body))


@record
class MeRequest:
    """GET /v1/me; linked apps cost a second DynamoDB request, so only callers that ask for them pay it."""

    include_linked_apps: bool = False

    @classmethod
    def from_event(cls, event) -> MeRequest:
        include = query_parameter(event, "include") or ""
        if include not in ("", "linkedApps"):
            raise InvalidRequest("include may only be linkedApps.")
        return cls(include_linked_apps=include == "linkedApps")


PATCHABLE = {"nickName": nickname, "avatarUrl": avatar_url}


@record
class UpdateMeRequest:
    """PATCH (or POST) /v1/me: the nickname/avatar fill-in; any other field is refused."""

    fields: dict

    @classmethod
    def from_event(cls, event) -> UpdateMeRequest:
        body = json_body(event)
        if set(body) - set(PATCHABLE):
            # Not echoed: a client's field name may not even be encodable in the answer.
            raise InvalidRequest("Only nickName and avatarUrl can be updated.")
        if not body:
            raise InvalidRequest("Send nickName and/or avatarUrl.")
        return cls({name: PATCHABLE[name](value) for name, value in body.items()})
