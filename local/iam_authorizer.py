"""API Gateway's IAM authorization (AWS_IAM, SigV4) for the local gateway, configured from template.yaml.

A route of an HttpApi whose `Auth.DefaultAuthorizer` (or the route's own `Auth.Authorizer`) is AWS_IAM
answers only a request signed with Signature Version 4 for the `execute-api` service, as API Gateway does
(https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-access-control-iam.html). Locally
one key pair is an IAM identity: the stack's own credentials (`AWS_ACCESS_KEY_ID=local`,
`AWS_SECRET_ACCESS_KEY=local`), the user `arn:aws:iam::123456789012:user/local-operator`.

Refused, with API Gateway's 403 answers in its `{"message"}` shape: no signature (a user's Bearer token
included), an unknown access key, a signature for another service or region, a request dated more than
5 minutes away, a signature that does not match. Allowed: the event's `requestContext.authorizer` is
`{"iam": {accessKey, accountId, callerId, cognitoIdentity, principalOrgId, userArn, userId}}`.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from local.jwt_authorizer import Denied

LOCAL_ACCOUNT = "123456789012"
LOCAL_OPERATOR_ARN = f"arn:aws:iam::{LOCAL_ACCOUNT}:user/local-operator"
LOCAL_OPERATOR_ID = "AIDALOCALOPERATOR0001"
MAX_SKEW_SECONDS = 300
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request,\s*"
    r"SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$"
)

FORBIDDEN = "Forbidden"
INVALID_TOKEN = "The security token included in the request is invalid."  # noqa: S105 - API Gateway's message
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)
EXPIRED = "Signature expired: the request is dated more than 5 minutes from now."


@dataclass(frozen=True)
class Identity:
    secret_key: str
    arn: str
    user_id: str


@dataclass
class IamRoutes:
    """The template's IAM-authorized routes and the local identities that may sign for them."""

    routes: set[tuple[str, str]]
    identities: dict[str, Identity]
    region: str

    @classmethod
    def from_template(cls, template: dict, access_key: str, secret_key: str, region: str) -> IamRoutes:
        resources = template.get("Resources", {})
        defaults = {
            api_id: resource.get("Properties", {}).get("Auth", {}).get("DefaultAuthorizer")
            for api_id, resource in resources.items()
            if resource.get("Type") == "AWS::Serverless::HttpApi"
        }
        routes = set()
        for resource in resources.values():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            for event in resource.get("Properties", {}).get("Events", {}).values():
                props = event.get("Properties", {})
                api = props.get("ApiId")
                if event.get("Type") != "HttpApi" or not isinstance(api, dict):
                    continue
                if props.get("Auth", {}).get("Authorizer", defaults.get(api.get("Ref"))) == "AWS_IAM":
                    routes.add((props["Method"].upper(), props["Path"]))
        identities = {access_key: Identity(secret_key, LOCAL_OPERATOR_ARN, LOCAL_OPERATOR_ID)}
        return cls(routes, identities, region)

    def authorize(
        self, method: str, path: str, query: str, headers: dict, body: bytes | None, now: datetime | None = None
    ) -> dict | None:
        """The route's `requestContext.authorizer`, None for a route without IAM authorization; raises Denied."""
        if (method.upper(), path) not in self.routes:
            return None
        lowered = {name.lower(): value for name, value in headers.items()}
        match = _AUTHORIZATION.fullmatch((lowered.get("authorization") or "").strip())
        if match is None:
            raise Denied(403, FORBIDDEN)
        access_key, date, region, service, signed, signature = match.groups()
        identity = self.identities.get(access_key)
        if identity is None:
            raise Denied(403, INVALID_TOKEN)
        amz_date = lowered.get("x-amz-date", "")
        try:
            stamp = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise Denied(403, FORBIDDEN) from None
        if abs(((now or datetime.now(UTC)) - stamp).total_seconds()) > MAX_SKEW_SECONDS:
            raise Denied(403, EXPIRED)
        signed_headers = signed.split(";")
        if (
            service != "execute-api"
            or region != self.region
            or date != amz_date[:8]
            or "host" not in signed_headers
            or any(name not in lowered for name in signed_headers)
        ):
            raise Denied(403, MISMATCH)
        url = f"http://{lowered['host']}{path}" + (f"?{query}" if query else "")
        expected = _signature(method, url, {n: lowered[n] for n in signed_headers}, body, access_key, identity, region)
        if not hmac.compare_digest(expected, signature):
            raise Denied(403, MISMATCH)
        return {
            "iam": {
                "accessKey": access_key,
                "accountId": LOCAL_ACCOUNT,
                "callerId": identity.user_id,
                "cognitoIdentity": None,
                "principalOrgId": None,
                "userArn": identity.arn,
                "userId": identity.user_id,
            }
        }


def _signature(method, url, signed_headers, body, access_key, identity: Identity, region) -> str:
    """SigV4 of the request as botocore computes it, over exactly the headers the client signed."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method.upper(), url=url, data=body or b"", headers=signed_headers)
    request.context["timestamp"] = signed_headers["x-amz-date"]
    signer = SigV4Auth(Credentials(access_key, identity.secret_key), "execute-api", region)
    canonical = signer.canonical_request(request)
    return signer.signature(signer.string_to_sign(request, canonical), request)
