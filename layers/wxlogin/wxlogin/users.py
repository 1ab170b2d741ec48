"""The users-and-sessions repository: users, their sessions and login-retry records in the one table.

Items (pk, sk):
- user          USER#<userId>  USER            appid, openid, unionid?, sessionKey, profile + phone fields,
                                                createdAt, lastLoginAt
- session       USER#<userId>  SESSION#<hash>  expiresAt (TTL), createdAt
- login retry   LOGIN#<hash>   LOGIN           sealed answer, expiresAt (TTL)

A session lives in its user's partition, so one BatchGetItem reads a session with its user
(auth.py decides whether it lets the caller in); deleting the user's partition revokes every
session at once.
"""

from __future__ import annotations

from .dynamodb import ConditionFailed, Table, iso_time, plain, set_expression, to_attr
from .errors import ServiceUnavailable, Unauthorized
from .models import PHONE_FIELDS, PROFILE_FIELDS, User
from .tokens import TokenRef

USER_SK = "USER"
UNIONID_INDEX = "unionid-index"


def user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


def _session_sk(ref: TokenRef) -> str:
    return f"SESSION#{ref.token_hash}"


def user_from_item(item: dict) -> User:
    data = plain(item)
    profile = {k: data[k] for k in PROFILE_FIELDS if k in data}
    phone = {k: data[k] for k in PHONE_FIELDS if k in data}
    return User(
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


class UserStore(Table):
    def get_user(self, user_id: str) -> User | None:
        response = self.call(
            "get_item",
            TableName=self.table_name,
            Key={"pk": {"S": user_pk(user_id)}, "sk": {"S": USER_SK}},
            ConsistentRead=True,
        )
        return user_from_item(response["Item"]) if "Item" in response else None

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
        expression, names, values = set_expression({**fields, "lastLoginAt": iso_time(now)})
        names["#created"] = "createdAt"
        values[":created"] = to_attr(iso_time(now))
        pk = {"S": user_pk(user_id)}
        actions = [
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": {"pk": pk, "sk": {"S": USER_SK}},
                    "UpdateExpression": f"SET {expression}, #created = if_not_exists(#created, :created)",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            },
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": {
                        "pk": pk,
                        "sk": {"S": _session_sk(session)},
                        "expiresAt": to_attr(session_expires_at),
                        "createdAt": to_attr(iso_time(now)),
                    },
                }
            },
        ]
        if retry_record is not None:
            record_id, sealed, expires_at = retry_record
            item = {"pk": {"S": f"LOGIN#{record_id}"}, "sk": {"S": "LOGIN"}, "sealed": {"B": sealed}}
            item["expiresAt"] = to_attr(expires_at)
            actions.append(
                {"Put": {"TableName": self.table_name, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}
            )
        try:
            self.call("transact_write_items", TransactItems=actions)
        except ConditionFailed:
            # Only the retry record has a condition: the same code logged in twice at once.
            raise ServiceUnavailable() from None

    def get_login_retry(self, record_id: str, now: float) -> bytes | None:
        response = self.call(
            "get_item",
            TableName=self.table_name,
            Key={"pk": {"S": f"LOGIN#{record_id}"}, "sk": {"S": "LOGIN"}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item or int(item["expiresAt"]["N"]) <= now:
            return None
        return item["sealed"]["B"]

    def session_with_user(self, ref: TokenRef) -> tuple[int | None, User | None]:
        """(when the session expires, its user), each None when absent, read in one request."""
        pk = {"S": user_pk(ref.user_id)}
        response = self.call(
            "batch_get_item",
            RequestItems={
                self.table_name: {
                    "Keys": [{"pk": pk, "sk": {"S": USER_SK}}, {"pk": pk, "sk": {"S": _session_sk(ref)}}],
                    "ConsistentRead": True,
                }
            },
        )
        if response.get("UnprocessedKeys"):
            raise ServiceUnavailable()
        items = {item["sk"]["S"]: item for item in response.get("Responses", {}).get(self.table_name, [])}
        session, user = items.get(_session_sk(ref)), items.get(USER_SK)
        return (
            int(session["expiresAt"]["N"]) if session is not None else None,
            user_from_item(user) if user is not None else None,
        )

    def update_user(self, user_id: str, fields: dict) -> User:
        """Set fields on an existing user; a deleted user stays deleted (no upsert)."""
        expression, names, values = set_expression(fields)
        try:
            response = self.call(
                "update_item",
                TableName=self.table_name,
                Key={"pk": {"S": user_pk(user_id)}, "sk": {"S": USER_SK}},
                UpdateExpression=f"SET {expression}",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ConditionFailed:
            raise Unauthorized() from None
        return user_from_item(response["Attributes"])

    def revoke_session(self, ref: TokenRef, now: float) -> None:
        try:
            self.call(
                "delete_item",
                TableName=self.table_name,
                Key={"pk": {"S": user_pk(ref.user_id)}, "sk": {"S": _session_sk(ref)}},
                ConditionExpression="attribute_exists(pk) AND expiresAt > :now",
                ExpressionAttributeValues={":now": to_attr(int(now))},
            )
        except ConditionFailed:
            raise Unauthorized() from None

    def delete_user(self, user_id: str, current: TokenRef) -> None:
        """Erase the user and every session. Other sessions go first, so a failure part-way leaves the
        caller's token working for a retry; the user and the caller's session then go together."""
        pk = user_pk(user_id)
        current_sk = _session_sk(current)
        others = [key for key in self._partition_keys(pk) if key["sk"]["S"] not in (USER_SK, current_sk)]
        for start in range(0, len(others), 25):
            self._batch_delete(others[start : start + 25])
        self.call(
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
            response = self.call(
                "query",
                TableName=self.table_name,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": pk}},
                ProjectionExpression="pk, sk",
                ConsistentRead=True,
                **kwargs,
            )
            keys.extend(response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if not start:
                return keys

    def _batch_delete(self, keys: list[dict]) -> None:
        requests = [{"DeleteRequest": {"Key": key}} for key in keys]
        for _ in range(3):
            response = self.call("batch_write_item", RequestItems={self.table_name: requests})
            requests = response.get("UnprocessedItems", {}).get(self.table_name, [])
            if not requests:
                return
        raise ServiceUnavailable()

    def linked_users(self, user: User) -> list[dict]:
        """The same person's users in the developer's other Mini Programs: those sharing the unionid."""
        if user.unionid is None:
            return []
        response = self.call(
            "query",
            TableName=self.table_name,
            IndexName=UNIONID_INDEX,
            KeyConditionExpression="unionid = :u",
            ExpressionAttributeValues={":u": {"S": user.unionid}},
            ProjectionExpression="appid, openid",
            Limit=50,
        )
        linked = [plain(item) for item in response.get("Items", [])]
        return sorted(
            ({"appid": item["appid"], "openid": item["openid"]} for item in linked if item["appid"] != user.appid),
            key=lambda item: item["appid"],
        )
