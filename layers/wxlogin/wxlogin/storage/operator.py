"""What an operator's actions read and write: users found by each identifier, blocks, generations.

The user and session items are users.py's; this adds the writes only the admin function makes. Blocking
and signing out give the user a new generation (`gen`), which ends every session at once (auth.py lets a
session in only under its user's generation), and clear the user item's list of sessions in the same write:
the session items stay, dead, until their TTL (a blocked user's client presenting one learns it is blocked).
"""

from __future__ import annotations

import secrets

from wxlogin.errors import WxLoginError
from wxlogin.models import User
from wxlogin.storage.dynamodb import ConditionFailed, iso_time, to_attr
from wxlogin.storage.users import (
    BLOCK_ATTRIBUTES,
    UNIONID_INDEX,
    USER_SK,
    UserStore,
    user_from_item,
    user_pk,
)


class NotFound(WxLoginError):
    """The admin API's 404: no user matches (its errors are the operator's, not the Mini Program's contract)."""

    status, code, message = 404, "not_found", "No user matches."


class AmbiguousUser(WxLoginError):
    status, code, message = 409, "ambiguous_user", "More than one user matches; name one by sub or appid and openid."


PHONE_INDEX = "phone-index"
# Enough for any real person (one user per Mini Program of the developer); a lookup never pages further.
MAX_MATCHES = 50


class OperatorStore(UserStore):
    def user(self, user_id: str) -> User | None:
        response = self.call(
            "get_item",
            TableName=self.table_name,
            Key={"pk": {"S": user_pk(user_id)}, "sk": {"S": USER_SK}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return user_from_item(item) if item is not None else None

    def user_ids_by_unionid(self, unionid: str) -> list[str]:
        return self._user_ids_in_index(UNIONID_INDEX, "unionid", unionid)

    def user_ids_by_phone_hash(self, phone_hash: str) -> list[str]:
        return self._user_ids_in_index(PHONE_INDEX, "phoneHash", phone_hash)

    def _user_ids_in_index(self, index: str, attribute: str, value: str) -> list[str]:
        response = self.call(
            "query",
            TableName=self.table_name,
            IndexName=index,
            KeyConditionExpression="#a = :v",
            ExpressionAttributeNames={"#a": attribute},
            ExpressionAttributeValues={":v": {"S": value}},
            ProjectionExpression="pk",
            Limit=MAX_MATCHES,
        )
        return sorted({item["pk"]["S"].removeprefix("USER#") for item in response.get("Items", [])})

    def block(self, user_id: str, reason: str, by: str, now: float) -> User:
        """Block the user under a new generation: every session ends at once, no login passes (users.py)."""
        fields = {"reason": reason, "at": iso_time(now), "by": by}
        names = {f"#{key}": BLOCK_ATTRIBUTES[key] for key in fields} | {"#gen": "gen"}
        values = {f":{key}": to_attr(value) for key, value in fields.items()} | {":gen": to_attr(_generation())}
        expression = "SET " + ", ".join(f"#{key} = :{key}" for key in fields) + ", #gen = :gen REMOVE #sessions"
        return self._change(user_id, expression, names | {"#sessions": "sessions"}, values)

    def unblock(self, user_id: str) -> User:
        names = {f"#{key}": name for key, name in BLOCK_ATTRIBUTES.items()}
        return self._change(user_id, "REMOVE " + ", ".join(names), names, None)

    def new_generation(self, user_id: str) -> User:
        """Sign out everywhere: sessions issued before stop working at once; the account stays."""
        names = {"#gen": "gen", "#sessions": "sessions"}
        return self._change(user_id, "SET #gen = :gen REMOVE #sessions", names, {":gen": to_attr(_generation())})

    def _change(self, user_id: str, expression: str, names: dict, values: dict | None) -> User:
        try:
            response = self.call(
                "update_item",
                TableName=self.table_name,
                Key={"pk": {"S": user_pk(user_id)}, "sk": {"S": USER_SK}},
                UpdateExpression=expression,
                ExpressionAttributeNames=names,
                **({"ExpressionAttributeValues": values} if values else {}),
                ConditionExpression="attribute_exists(pk)",
                ReturnValues="ALL_NEW",
            )
        except ConditionFailed:
            raise NotFound() from None
        return user_from_item(response["Attributes"])


def _generation() -> str:
    return secrets.token_urlsafe(16)
