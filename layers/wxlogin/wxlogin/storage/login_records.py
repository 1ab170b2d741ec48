"""What logins leave besides users and sessions: keyed-login markers.

Items (pk, sk):
- login retry   LOGIN#<hmac>   LOGIN           state (pending/done/failed), keyCheck, kid, deadline, sealed answer,
                                                expiresAt (TTL)

Keyed by a keyed hash (serverkeys.py): the table holds no login code.
"""

from __future__ import annotations

from wxlogin.records import record
from wxlogin.storage.dynamodb import ConditionFailed, Table, plain, to_attr

LOGIN_SK = "LOGIN"


def _login_key(record_id: str) -> dict:
    return {"pk": {"S": f"LOGIN#{record_id}"}, "sk": {"S": LOGIN_SK}}


@record
class LoginRetry:
    """A keyed login's record: `pending` while the login runs (until `deadline`), then `done` with its answer."""

    key_check: str
    kid: str
    state: str
    deadline: float
    expires_at: int
    sealed: bytes | None


class LoginRecords(Table):
    def finish_login_retry(self, record_id: str, key_check: str, state: str, sealed: bytes | None = None) -> None:
        """Turn this login's pending marker into its outcome: `done` with the sealed answer, or `failed` so
        that a retry is answered at once. A marker another login took over is left alone."""
        names, values = {"#state": "state"}, {":state": {"S": state}, ":pending": {"S": "pending"}}
        values[":check"] = {"S": key_check}
        update = "SET #state = :state"
        if sealed is not None:
            update += ", sealed = :sealed"
            values[":sealed"] = {"B": sealed}
        try:
            self.call(
                "update_item",
                TableName=self.table_name,
                Key=_login_key(record_id),
                UpdateExpression=update,
                ConditionExpression="#state = :pending AND keyCheck = :check",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ConditionFailed:
            pass

    @staticmethod
    def _retry_item(record_id: str, record: LoginRetry) -> dict:
        item = {
            **_login_key(record_id),
            "keyCheck": {"S": record.key_check},
            "kid": {"S": record.kid},
            "state": {"S": record.state},
            "deadline": to_attr(record.deadline),
            "expiresAt": to_attr(record.expires_at),
        }
        if record.sealed is not None:
            item["sealed"] = {"B": record.sealed}
        return item

    def claim_login_retry(self, record_id: str, record: LoginRetry, now: float) -> LoginRetry | None:
        """Put the pending marker of a keyed login before WeChat sees its code; None when this login holds
        it, else the record already there. A marker whose login ran past its deadline is taken over."""
        try:
            self.call(
                "put_item",
                TableName=self.table_name,
                Item=self._retry_item(record_id, record),
                ConditionExpression=(
                    "attribute_not_exists(pk) OR expiresAt <= :now OR (#state = :pending AND deadline <= :now)"
                ),
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":now": to_attr(now), ":pending": {"S": "pending"}},
            )
        except ConditionFailed:
            existing = self.get_login_retry(record_id, now)
            if existing == record:
                # Our own put, landed on an attempt whose answer was lost and refused on botocore's retry:
                # this login holds the marker (its deadline, to the microsecond, is no other login's).
                return None
            return existing or self.claim_login_retry(record_id, record, now)
        return None

    def get_login_retry(self, record_id: str, now: float) -> LoginRetry | None:
        response = self.call("get_item", TableName=self.table_name, Key=_login_key(record_id), ConsistentRead=True)
        item = response.get("Item")
        if not item or int(item["expiresAt"]["N"]) <= now:
            return None
        data = plain(item)
        return LoginRetry(
            data["keyCheck"], data["kid"], data["state"], data["deadline"], data["expiresAt"], data.get("sealed")
        )
