"""Which user an account's `sub` names: a small item per account, so an operator finds a user by sub.

The `sub` is random (storage/users.py), so nothing derives the user's partition from it. The events
function writes `SUB#<sub>` / `SUB` = {userId} when an account's sub first appears in the table's stream,
off the login path, and rewrites it when the account is erased with an expiry (the audit trail's
retention), so the trail of an erased account is found by its sub for as long as the trail is kept.
"""

from __future__ import annotations

from wxlogin.storage.dynamodb import Table, to_attr

SUB_PREFIX = "SUB#"
SUB_SK = "SUB"


class AccountIds(Table):
    def remember(self, sub: str, user_id: str, expires_at: int | None = None) -> None:
        item = {"pk": {"S": SUB_PREFIX + sub}, "sk": {"S": SUB_SK}, "userId": {"S": user_id}}
        if expires_at is not None:
            item["expiresAt"] = to_attr(expires_at)
        self.call("put_item", TableName=self.table_name, Item=item)

    def user_id(self, sub: str, now: float) -> str | None:
        response = self.call(
            "get_item",
            TableName=self.table_name,
            Key={"pk": {"S": SUB_PREFIX + sub}, "sk": {"S": SUB_SK}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        if item is None or int(item.get("expiresAt", {}).get("N", now + 1)) <= now:
            return None
        return item["userId"]["S"]
