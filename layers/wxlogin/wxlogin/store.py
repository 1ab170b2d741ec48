"""Users, sessions and login-retry records in one DynamoDB table.

Items (pk, sk):
- user          USER#<userId>  USER            appid, openid, unionid?, sessionKey, profile + phone fields,
                                                createdAt, lastLoginAt
- session       USER#<userId>  SESSION#<hash>  expiresAt (TTL), createdAt
- login retry   LOGIN#<hash>   LOGIN           sealed answer, expiresAt (TTL)
- access token  APP#<appid>    ACCESS_TOKEN    accessToken, expiresAt (TTL), leaseOwner?, leaseUntil?

A session lives in its user's partition, so one BatchGetItem checks a token and
loads the user; deleting the user item revokes every session at once. The low
-level client is used on purpose: it imports and serialises faster than the
resource layer, and each call here is one request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from . import aws
from .errors import InternalError, ServiceUnavailable, Unauthorized
from .tokens import TokenRef

PROFILE_FIELDS = ("nickName", "avatarUrl", "gender", "country", "province", "city", "language")
PHONE_FIELDS = ("phoneNumber", "purePhoneNumber", "countryCode")
USER_SK = "USER"
ACCESS_TOKEN_SK = "ACCESS_TOKEN"  # noqa: S105 - a sort key, not a credential
UNIONID_INDEX = "unionid-index"
RETRYABLE_CODES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
}

def dynamodb():
    """The shared low-level client: created on first use, never at import."""
    return aws.client("dynamodb", connect_timeout=1, read_timeout=2, retries={"mode": "standard", "max_attempts": 3})


def iso_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


def _attr(value) -> dict:
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
    return raw


def _plain(item: dict) -> dict:
    return {name: _value(attr) for name, attr in item.items()}


@dataclass(frozen=True)
class User:
    user_id: str
    appid: str
    openid: str
    unionid: str | None
    session_key: str = field(repr=False)
    profile: dict | None
    phone: dict | None
    created_at: str
    last_login_at: str

    @classmethod
    def from_item(cls, item: dict) -> User:
        data = _plain(item)
        profile = {k: data[k] for k in PROFILE_FIELDS if k in data}
        phone = {k: data[k] for k in PHONE_FIELDS if k in data}
        return cls(
            user_id=data["pk"].removeprefix("USER#"),
            appid=data["appid"],
            openid=data["openid"],
            unionid=data.get("unionid"),
            session_key=data["sessionKey"],
            profile=profile or None,
            phone=phone or None,
            created_at=data["createdAt"],
            last_login_at=data["lastLoginAt"],
        )


def _set_expression(values: dict, prefix: str = "") -> tuple[str, dict, dict]:
    """`SET #a = :a, ...` for plain values; names are aliased so any field name is safe."""
    names, attrs, parts = {}, {}, []
    for i, (name, value) in enumerate(values.items()):
        names[f"#{prefix}{i}"] = name
        attrs[f":{prefix}{i}"] = _attr(value)
        parts.append(f"#{prefix}{i} = :{prefix}{i}")
    return ", ".join(parts), names, attrs


class _Table:
    """The one table, reached with the shared client; DynamoDB errors become the contract's."""

    def __init__(self, table_name: str, client=None):
        self.table_name = table_name
        self._client = client

    @property
    def client(self):
        return self._client or dynamodb()

    def _call(self, operation: str, **kwargs) -> dict:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ConditionalCheckFailedException":
                raise _ConditionFailed() from None
            if code == "TransactionCanceledException":
                reasons = {r.get("Code") for r in exc.response.get("CancellationReasons", [])}
                if reasons & {"ThrottlingError", "TransactionConflict", "ProvisionedThroughputExceeded"}:
                    raise ServiceUnavailable() from None
                if "ConditionalCheckFailed" in reasons:
                    raise _ConditionFailed() from None
            if code in RETRYABLE_CODES:
                raise ServiceUnavailable() from None
            raise InternalError() from None
        except BotoCoreError:
            # Endpoint unreachable, timeouts: nothing was written that we rely on.
            raise ServiceUnavailable() from None


class UserStore(_Table):
    def get_user(self, user_id: str) -> User | None:
        answer = self._call(
            "get_item",
            TableName=self.table_name,
            Key={"pk": {"S": user_pk(user_id)}, "sk": {"S": USER_SK}},
            ConsistentRead=True,
        )
        return User.from_item(answer["Item"]) if "Item" in answer else None

    def save_login(
        self,
        user_id: str,
        fields: dict,
        session: TokenRef,
        session_expires_at: int,
        now: float,
        retry_record: tuple[str, bytes, int] | None = None,
    ) -> None:
        """Write the user, the new session and (for a retryable login) its sealed answer, all or nothing."""
        expression, names, values = _set_expression({**fields, "lastLoginAt": iso_time(now)})
        names["#created"] = "createdAt"
        values[":created"] = _attr(iso_time(now))
        actions = [
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": {"pk": {"S": user_pk(user_id)}, "sk": {"S": USER_SK}},
                    "UpdateExpression": f"SET {expression}, #created = if_not_exists(#created, :created)",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            },
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": {
                        "pk": {"S": user_pk(user_id)},
                        "sk": {"S": f"SESSION#{session.token_hash}"},
                        "expiresAt": _attr(session_expires_at),
                        "createdAt": _attr(iso_time(now)),
                    },
                }
            },
        ]
        if retry_record is not None:
            record_id, sealed, expires_at = retry_record
            actions.append(
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": {
                            "pk": {"S": f"LOGIN#{record_id}"},
                            "sk": {"S": "LOGIN"},
                            "sealed": {"B": sealed},
                            "expiresAt": _attr(expires_at),
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        try:
            self._call("transact_write_items", TransactItems=actions)
        except _ConditionFailed:
            # Only the retry record has a condition: the same code logged in twice at once.
            raise ServiceUnavailable() from None

    def get_login_retry(self, record_id: str, now: float) -> bytes | None:
        answer = self._call(
            "get_item",
            TableName=self.table_name,
            Key={"pk": {"S": f"LOGIN#{record_id}"}, "sk": {"S": "LOGIN"}},
            ConsistentRead=True,
        )
        item = answer.get("Item")
        if not item or int(item["expiresAt"]["N"]) <= now:
            return None
        return item["sealed"]["B"]

    def authenticate(self, ref: TokenRef, now: float) -> User:
        """The user a live session belongs to, read with the session in one request."""
        pk = {"S": user_pk(ref.user_id)}
        answer = self._call(
            "batch_get_item",
            RequestItems={
                self.table_name: {
                    "Keys": [{"pk": pk, "sk": {"S": USER_SK}}, {"pk": pk, "sk": {"S": f"SESSION#{ref.token_hash}"}}],
                    "ConsistentRead": True,
                }
            },
        )
        if answer.get("UnprocessedKeys"):
            raise ServiceUnavailable()
        items = {item["sk"]["S"]: item for item in answer.get("Responses", {}).get(self.table_name, [])}
        session, user = items.get(f"SESSION#{ref.token_hash}"), items.get(USER_SK)
        if session is None or user is None or int(session["expiresAt"]["N"]) <= now:
            raise Unauthorized()
        return User.from_item(user)

    def update_user(self, user_id: str, fields: dict) -> User:
        """Set fields on an existing user; a deleted user stays deleted (no upsert)."""
        expression, names, values = _set_expression(fields)
        try:
            answer = self._call(
                "update_item",
                TableName=self.table_name,
                Key={"pk": {"S": user_pk(user_id)}, "sk": {"S": USER_SK}},
                UpdateExpression=f"SET {expression}",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except _ConditionFailed:
            raise Unauthorized() from None
        return User.from_item(answer["Attributes"])

    def revoke_session(self, ref: TokenRef, now: float) -> None:
        try:
            self._call(
                "delete_item",
                TableName=self.table_name,
                Key={"pk": {"S": user_pk(ref.user_id)}, "sk": {"S": f"SESSION#{ref.token_hash}"}},
                ConditionExpression="attribute_exists(pk) AND expiresAt > :now",
                ExpressionAttributeValues={":now": _attr(int(now))},
            )
        except _ConditionFailed:
            raise Unauthorized() from None

    def delete_user(self, user_id: str, current: TokenRef) -> None:
        """Erase the user and every session. Other sessions go first, so a failure part-way leaves the
        caller's token working for a retry; the user and the caller's session then go together."""
        pk = user_pk(user_id)
        current_sk = f"SESSION#{current.token_hash}"
        others = [key for key in self._partition_keys(pk) if key["sk"]["S"] not in (USER_SK, current_sk)]
        for start in range(0, len(others), 25):
            self._batch_delete(others[start : start + 25])
        self._call(
            "transact_write_items",
            TransactItems=[
                {"Delete": {"TableName": self.table_name, "Key": {"pk": {"S": pk}, "sk": {"S": sk}}}}
                for sk in (USER_SK, current_sk)
            ],
        )

    def _partition_keys(self, pk: str) -> list[dict]:
        keys, start = [], None
        while True:
            kwargs = {"ExclusiveStartKey": start} if start else {}
            answer = self._call(
                "query",
                TableName=self.table_name,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": pk}},
                ProjectionExpression="pk, sk",
                ConsistentRead=True,
                **kwargs,
            )
            keys.extend(answer.get("Items", []))
            start = answer.get("LastEvaluatedKey")
            if not start:
                return keys

    def _batch_delete(self, keys: list[dict]) -> None:
        requests = [{"DeleteRequest": {"Key": key}} for key in keys]
        for _ in range(3):
            answer = self._call("batch_write_item", RequestItems={self.table_name: requests})
            requests = answer.get("UnprocessedItems", {}).get(self.table_name, [])
            if not requests:
                return
        raise ServiceUnavailable()


    def linked_users(self, user: User) -> list[dict]:
        """The same person's users in the developer's other Mini Programs: those sharing the unionid."""
        if user.unionid is None:
            return []
        answer = self._call(
            "query",
            TableName=self.table_name,
            IndexName=UNIONID_INDEX,
            KeyConditionExpression="unionid = :u",
            ExpressionAttributeValues={":u": {"S": user.unionid}},
            ProjectionExpression="appid, openid",
            Limit=50,
        )
        linked = [_plain(item) for item in answer.get("Items", [])]
        return sorted(
            ({"appid": item["appid"], "openid": item["openid"]} for item in linked if item["appid"] != user.appid),
            key=lambda item: item["appid"],
        )


@dataclass(frozen=True)
class StoredAccessToken:
    token: str = field(repr=False)
    expires_at: int


class AccessTokenStore(_Table):
    """One WeChat access token per appid, shared by every Lambda instance.

    A refresh is guarded by a short lease taken with a conditional write, so
    concurrent instances that all see a stale token cause one WeChat call.
    """

    @staticmethod
    def _key(appid: str) -> dict:
        return {"pk": {"S": f"APP#{appid}"}, "sk": {"S": ACCESS_TOKEN_SK}}

    def get(self, appid: str) -> StoredAccessToken | None:
        answer = self._call("get_item", TableName=self.table_name, Key=self._key(appid), ConsistentRead=True)
        item = answer.get("Item")
        if not item or "accessToken" not in item:
            return None
        return StoredAccessToken(item["accessToken"]["S"], int(item["expiresAt"]["N"]))

    def acquire_lease(self, appid: str, owner: str, now: float, lease_seconds: int, stale: str | None) -> bool:
        """Take the refresh lease, but only if nobody holds it and the token is still the stale one we saw."""
        values = {":owner": {"S": owner}, ":until": _attr(int(now) + lease_seconds), ":now": _attr(int(now))}
        if stale is None:
            unchanged = "attribute_not_exists(accessToken)"
        else:
            unchanged = "accessToken = :stale"
            values[":stale"] = {"S": stale}
        try:
            self._call(
                "update_item",
                TableName=self.table_name,
                Key=self._key(appid),
                UpdateExpression="SET leaseOwner = :owner, leaseUntil = :until",
                ConditionExpression=f"(attribute_not_exists(leaseUntil) OR leaseUntil < :now) AND {unchanged}",
                ExpressionAttributeValues=values,
            )
        except _ConditionFailed:
            return False
        return True

    def save(self, appid: str, owner: str, token: str, expires_at: int) -> None:
        """Store the new token and release the lease; if the lease was lost meanwhile, keep the newer state."""
        try:
            self._call(
                "update_item",
                TableName=self.table_name,
                Key=self._key(appid),
                # expiresAt is also the table's TTL attribute: an expired token is removed, never served.
                UpdateExpression="SET accessToken = :token, expiresAt = :expires REMOVE leaseOwner, leaseUntil",
                ConditionExpression="leaseOwner = :owner",
                ExpressionAttributeValues={
                    ":token": {"S": token},
                    ":expires": _attr(expires_at),
                    ":owner": {"S": owner},
                },
            )
        except _ConditionFailed:
            pass

    def release(self, appid: str, owner: str) -> None:
        """Give the lease up after a failed refresh, so another instance need not wait it out."""
        try:
            self._call(
                "update_item",
                TableName=self.table_name,
                Key=self._key(appid),
                UpdateExpression="REMOVE leaseOwner, leaseUntil",
                ConditionExpression="leaseOwner = :owner",
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except _ConditionFailed:
            pass


class _ConditionFailed(Exception):
    pass
