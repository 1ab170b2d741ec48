"""The table's changes as domain events for the services behind wxlogin, and as audit entries.

The events function reads the table's DynamoDB stream (user items, and sessions a logout ended, by its filter), so
a login makes no call for any of this. Each stream record is one change of one item:

| change of the item                                    | EventBridge event | audit entry |
| ----------------------------------------------------- | ----------------- | ----------- |
| user item created (`createdBy` appears; first login)  | UserSignedUp      | signup      |
| user item lists a new session (every other login)     |                   | login       |
| user item's `phoneHash` appears or changes            | PhoneBound        | phone_bound |
| user item's `blockedAt` appears                       | UserBlocked       | (the operator's entry) |
| user item's `blockedAt` goes                          | UserUnblocked     | (the operator's entry) |
| user item deleted                                     | UserErased        | erased      |
| session item ended by a logout (`endedAt` appears)    |                   | logout      |

An event's detail is `{"version": "1", "eventId", "sub", "appid", "openid", "unionid", "time"}` (plus
`reason` for UserBlocked): never a token, a code, the session_key or a phone number. `eventId` is the
stream record's id, the same on every delivery of one change, so a consumer drops repeats by it
(delivery is at least once). docs/operating.md gives the schema.
"""

from __future__ import annotations

import json
import time

from wxlogin.records import record
from wxlogin.storage.account_ids import AccountIds
from wxlogin.storage.audit import AuditTrail
from wxlogin.storage.dynamodb import iso_time, plain

SCHEMA_VERSION = "1"
USER_SK = "USER"
SESSION_PREFIX = "SESSION#"
# users.py ends a session in place (logout, erasure): `endedAt` appears.
ENDED = "endedAt"


@record
class Change:
    """What one stream record means: the audit entry (or None), the events (possibly none), and the
    account whose `sub` -> user item to remember (sub, erased?), if any (storage/account_ids.py)."""

    user_id: str
    audit: dict | None
    events: list
    account: tuple[str, bool] | None = None


def _image(record_: dict, name: str) -> dict | None:
    image = (record_.get("dynamodb") or {}).get(name)
    return plain(image) if image else None


def _logout(stream_record: dict, old: dict, new: dict, when: str) -> Change | None:
    """A logout: a session ended in place that names its user (users.py: an erasure's end names nobody)."""
    ended = stream_record.get("eventName") == "MODIFY" and ENDED in new and ENDED not in old
    if not ended or "uid" not in new:
        return None
    # A session item names no account: the trail is the WeChat user's (appid + openid), across accounts.
    return Change(new["uid"], {"time": when, "action": "logout", "actor": "user"}, [])


def change_of(stream_record: dict) -> Change | None:
    """What a DynamoDB stream record (Lambda's shape) means, or None for a change nobody is told of."""
    keys = plain((stream_record.get("dynamodb") or {}).get("Keys") or {})
    pk, sk = keys.get("pk", ""), keys.get("sk", "")
    when = iso_time(float((stream_record.get("dynamodb") or {}).get("ApproximateCreationDateTime") or time.time()))
    old, new = _image(stream_record, "OldImage"), _image(stream_record, "NewImage")
    if pk.startswith(SESSION_PREFIX):
        return _logout(stream_record, old or {}, new or {}, when)
    if not pk.startswith("USER#"):
        return None
    user_id = pk.removeprefix("USER#")
    if sk != USER_SK:
        return None
    old, new = old or {}, new or {}
    account = new or old
    if "appid" not in account:
        return None  # an item without its identity yet (never one a login writes)
    # The `sub` the account's access tokens carried: what the services behind wxlogin keyed data on.
    identity = {"sub": account.get("sub"), "appid": account["appid"], "openid": account["openid"]}

    def event(name: str, **extra) -> tuple[str, dict]:
        detail = {
            "version": SCHEMA_VERSION,
            "eventId": stream_record.get("eventID"),
            **identity,
            "unionid": account.get("unionid"),
            "time": when,
            **extra,
        }
        return name, detail

    events, action = [], None
    if not new:
        if "createdBy" in old:
            events.append(event("UserErased"))
            action = "erased"
    else:
        if "createdBy" in new and "createdBy" not in old:
            events.append(event("UserSignedUp"))
            action = "signup"
        if "phoneHash" in new and new.get("phoneHash") != old.get("phoneHash"):
            events.append(event("PhoneBound"))
            action = action or "phone_bound"
        # Every login lists its session on the user item (lastLoginAt is in whole seconds: two logins in one second
        # are two new sessions); a sign-up's entry says signup. The list is written before the session item, so a
        # login whose session write then failed (its client got 503) has its entry too: WeChat took its code.
        if set(new.get("sessions") or {}) - set(old.get("sessions") or {}):
            action = action or "login"
        if "blockedAt" in new and "blockedAt" not in old:
            events.append(event("UserBlocked", reason=new.get("blockedReason")))
        if "blockedAt" in old and "blockedAt" not in new:
            events.append(event("UserUnblocked"))
    # An erasure is the user's (DELETE /v1/me) or an operator's, who then has an entry of their own.
    audit = {"time": when, "action": action, "actor": None if action == "erased" else "user", **identity}
    remembered = None
    if not new and old.get("sub"):
        remembered = (old["sub"], True)
    elif new.get("sub") and new.get("sub") != old.get("sub"):
        remembered = (new["sub"], False)
    return Change(user_id, audit if action else None, events, remembered)


class DomainEvents:
    def __init__(self, trail: AuditTrail, account_ids: AccountIds, bus, clock=time.time):
        self.trail = trail
        self.account_ids = account_ids
        self.bus = bus
        self.clock = clock

    def handle(self, stream_record: dict) -> list[str]:
        """Write the record's audit entry and publish its events; raises (the record is retried) on a fault.
        The names of the events published."""
        change = change_of(stream_record)
        if change is None:
            return []
        now = self.clock()
        if change.account is not None:
            sub, erased = change.account
            # An erased account's sub still finds its trail while the trail is kept.
            expires_at = int(now) + self.trail.retention_seconds if erased else None
            self.account_ids.remember(sub, change.user_id, expires_at)
        if change.audit is not None:
            self.trail.add(change.user_id, change.audit, stream_record["eventID"], now)
        if change.events:
            self.bus.put([(name, json.dumps(detail, separators=(",", ":"))) for name, detail in change.events])
        return [name for name, _ in change.events]
