"""The audit trail: security-relevant actions on an account, each kept for AUDIT_RETENTION_DAYS.

Entries live in the one table under `AUDIT#<userId>` (the same id as the user's partition, so a trail
outlives the erasure it records and is found again by appid and openid), sorted by time, and expire by
the table's TTL. An entry names the action, when, who (the user, the system, or an operator's IAM ARN)
and the account (sub, appid, openid); never a token, code, session_key or phone number. Entries are
written with an id of their cause, so writing one twice (a retried stream batch) keeps one.
"""

from __future__ import annotations

from wxlogin.storage.dynamodb import Table, plain, to_attr

AUDIT_PREFIX = "AUDIT#"
# The fields an entry may hold: anything else a caller passes is not written.
ENTRY_FIELDS = ("time", "action", "actor", "sub", "appid", "openid", "reason", "sessionsEnded")
MAX_ENTRIES = 200


class AuditTrail(Table):
    def __init__(self, table_name: str, retention_days: int, client=None):
        super().__init__(table_name, client)
        self.retention_seconds = retention_days * 86400

    def add(self, user_id: str, entry: dict, entry_id: str, now: float) -> None:
        """Keep `entry` (its `time`, an ISO timestamp, orders the trail) until the retention ends."""
        item = {
            "pk": {"S": AUDIT_PREFIX + user_id},
            "sk": {"S": f"{entry['time']}#{entry_id}"},
            "expiresAt": to_attr(int(now) + self.retention_seconds),
        }
        item.update({name: to_attr(entry[name]) for name in ENTRY_FIELDS if entry.get(name) is not None})
        self.call("put_item", TableName=self.table_name, Item=item)

    def entries(self, user_id: str, now: float, limit: int = MAX_ENTRIES) -> list[dict]:
        """The user's trail, newest first (entries past their retention, which TTL deletes lazily, left out)."""
        response = self.call(
            "query",
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": AUDIT_PREFIX + user_id}},
            ScanIndexForward=False,
            Limit=limit,
        )
        entries = [plain(item) for item in response.get("Items", [])]
        return [
            {name: entry[name] for name in ENTRY_FIELDS if name in entry}
            for entry in entries
            if entry.get("expiresAt", now + 1) > now
        ]
