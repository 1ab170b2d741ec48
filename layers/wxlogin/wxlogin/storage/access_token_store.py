"""The access-token repository: one WeChat access token per appid, shared by every Lambda instance.

Item (pk, sk): APP#<appid> / ACCESS_TOKEN with accessToken (sealed), tokenId, expiresAt (TTL), leaseOwner?,
leaseUntil?. A refresh is guarded by a short lease taken with a conditional write, so concurrent instances
that all see a stale token cause one WeChat call (access_token.py decides when to refresh).

The token is sealed like a session_key (serverkeys.py): a table export, a backup or a read-only role on the
table gets no token to call WeChat as the app with. Conditions compare `tokenId`, its SHA-256, since a sealed
value differs at every write; it survives a rotation of the data keys.
"""

from __future__ import annotations

import hashlib

from wxlogin.keys.serverkeys import ServerKeys
from wxlogin.models import StoredAccessToken
from wxlogin.storage.dynamodb import ConditionFailed, Table, to_attr

ACCESS_TOKEN_SK = "ACCESS_TOKEN"  # noqa: S105 - a sort key, not a credential
# The app's item is never erased and made anew, so it has one generation; a token written back from a backup is
# one WeChat has long expired (they live two hours).
ACCESS_TOKEN_GENERATION = "1"  # noqa: S105 - a generation, not a credential


def token_id(token: str) -> str:
    """The token's SHA-256: what conditions compare, since a sealed value differs at every write."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class AccessTokenStore(Table):
    def __init__(self, table_name: str, keys: ServerKeys, client=None):
        super().__init__(table_name, client)
        self.keys = keys

    @staticmethod
    def _key(appid: str) -> dict:
        return {"pk": {"S": f"APP#{appid}"}, "sk": {"S": ACCESS_TOKEN_SK}}

    def get(self, appid: str) -> StoredAccessToken | None:
        response = self.call("get_item", TableName=self.table_name, Key=self._key(appid), ConsistentRead=True)
        item = response.get("Item")
        # A token stored in clear by an earlier version (no tokenId) counts as none: the next refresh seals one.
        if not item or "tokenId" not in item:
            return None
        token = self.keys.open_text(
            "access_token", f"APP#{appid}", ACCESS_TOKEN_GENERATION, item["accessToken"].get("B")
        )
        return StoredAccessToken(token, int(item["expiresAt"]["N"]), item["tokenId"]["S"])

    def acquire_lease(self, appid: str, owner: str, now: float, lease_seconds: int, stale_id: str | None) -> bool:
        """Take the refresh lease, but only if nobody holds it and the token is still the stale one we saw (by its
        id; None: there was none)."""
        values = {":owner": {"S": owner}, ":until": to_attr(int(now) + lease_seconds), ":now": to_attr(int(now))}
        if stale_id is None:
            unchanged = "attribute_not_exists(tokenId)"
        else:
            unchanged = "tokenId = :stale"
            values[":stale"] = {"S": stale_id}
        try:
            self.call(
                "update_item",
                TableName=self.table_name,
                Key=self._key(appid),
                UpdateExpression="SET leaseOwner = :owner, leaseUntil = :until",
                ConditionExpression=f"(attribute_not_exists(leaseUntil) OR leaseUntil < :now) AND {unchanged}",
                ExpressionAttributeValues=values,
            )
        except ConditionFailed:
            return False
        return True

    def save(self, appid: str, owner: str, token: str, expires_at: int) -> None:
        """Store the new token and release the lease; if the lease was lost meanwhile, keep the newer state."""
        # expiresAt is also the table's TTL attribute: an expired token is removed, never served.
        expression = "SET accessToken = :token, tokenId = :id, expiresAt = :expires REMOVE leaseOwner, leaseUntil"
        values = {
            ":token": {"B": self.keys.seal_text("access_token", f"APP#{appid}", ACCESS_TOKEN_GENERATION, token)},
            ":id": {"S": token_id(token)},
            ":expires": to_attr(expires_at),
        }
        self._update_if_owner(appid, owner, expression, values)

    def release(self, appid: str, owner: str) -> None:
        """Give the lease up after a failed refresh, so another instance need not wait it out."""
        self._update_if_owner(appid, owner, "REMOVE leaseOwner, leaseUntil", {})

    def _update_if_owner(self, appid: str, owner: str, expression: str, values: dict) -> None:
        """Apply the update only while `owner` holds the lease; otherwise another instance's state stands."""
        try:
            self.call(
                "update_item",
                TableName=self.table_name,
                Key=self._key(appid),
                UpdateExpression=expression,
                ConditionExpression="leaseOwner = :owner",
                ExpressionAttributeValues={**values, ":owner": {"S": owner}},
            )
        except ConditionFailed:
            pass
