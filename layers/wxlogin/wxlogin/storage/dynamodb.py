"""The one DynamoDB table as the repositories reach it: the shared client, item values, error mapping.

The low-level client is used on purpose: it imports and serialises faster than the resource
layer, and each repository call is one request. Every DynamoDB failure becomes the contract's
error here, so the repositories (users.py, access_token_store.py) only say what they store.
"""

from __future__ import annotations

from datetime import UTC, datetime

from wxlogin import aws
from wxlogin.errors import InternalError, ServiceUnavailable

RETRYABLE_CODES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
}
RETRYABLE_CANCELLATIONS = {"ThrottlingError", "TransactionConflict", "ProvisionedThroughputExceeded"}


def shared_client():
    """The client every repository shares unless given its own: created on first use, never at import."""
    return aws.client("dynamodb", **aws.FAIL_FAST)


def iso_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def to_attr(value) -> dict:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": str(value)}
    if isinstance(value, bytes):
        return {"B": value}
    return {"S": str(value)}


def _value(attr: dict):
    ((kind, raw),) = attr.items()
    if kind == "N":
        return int(raw) if raw.lstrip("-").isdigit() else float(raw)
    if kind == "M":
        return {name: _value(value) for name, value in raw.items()}
    return raw


def plain(item: dict) -> dict:
    """An item's attributes as plain Python values."""
    return {name: _value(attr) for name, attr in item.items()}


def set_expression(values: dict, prefix: str = "") -> tuple[str, dict, dict]:
    """`SET #a = :a, ...` for plain values; names are aliased so any field name is safe."""
    names, attrs, parts = {}, {}, []
    for i, (name, value) in enumerate(values.items()):
        names[f"#{prefix}{i}"] = name
        attrs[f":{prefix}{i}"] = to_attr(value)
        parts.append(f"#{prefix}{i} = :{prefix}{i}")
    return ", ".join(parts), names, attrs


class ConditionFailed(Exception):
    """A conditional write found the item not as required; the repository says what that means."""


class Table:
    """The one table, reached with the shared client (or one given); DynamoDB errors become the contract's."""

    def __init__(self, table_name: str, client=None):
        self.table_name = table_name
        self._client = client

    @property
    def client(self):
        return self._client or shared_client()

    def call(self, operation: str, **kwargs) -> dict:
        # botocore is loaded by the client already; importing it here keeps it off the import path.
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ConditionalCheckFailedException":
                raise ConditionFailed() from None
            if code == "TransactionCanceledException":
                reasons = {r.get("Code") for r in exc.response.get("CancellationReasons", [])}
                if reasons & RETRYABLE_CANCELLATIONS:
                    raise ServiceUnavailable() from None
                if "ConditionalCheckFailed" in reasons:
                    raise ConditionFailed() from None
            if code in RETRYABLE_CODES:
                raise ServiceUnavailable() from None
            raise InternalError() from None
        except BotoCoreError:
            # Endpoint unreachable, timeouts: nothing was written that we rely on.
            raise ServiceUnavailable() from None
