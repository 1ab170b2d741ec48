"""OperatorService with in-memory stand-ins for its repositories: which user an identifier names, what each
action changes, and what the audit trail and an export hold (and never hold)."""

from __future__ import annotations

import json

import pytest

from tests.support.values import APPID
from tests.unit.fakes import KEYS, NOW, Clock, user
from wxlogin.errors import InvalidRequest
from wxlogin.keys.tokens import user_id_for
from wxlogin.records import replace
from wxlogin.services.operator import OperatorService
from wxlogin.services.phone_lookup import phone_hash
from wxlogin.storage.operator import AmbiguousUser, NotFound
from wxlogin.web.admin_requests import AdminRequest, UserSelector

OPERATOR = "arn:aws:iam::123456789012:role/support"
PHONE = {"phoneNumber": "13800138000", "purePhoneNumber": "13800138000", "countryCode": "86"}


def session_item(owner, sid, generation, expires_at, **more):
    """A session item as UserStore.listed_sessions gives it: plain values, the token's hash and sealed answer too."""
    return {
        "pk": f"SESSION#{sid}",
        "sk": "SESSION",
        "uid": owner.user_id,
        "tokenHash": f"token-hash-{sid}",
        "gen": generation,
        "expiresAt": int(expires_at),
        "createdAt": "2023-11-14T22:13:20Z",
        **more,
    }


class Store:
    """OperatorStore's contract over dicts: users by id, session items by id (a user item lists its own), the
    two indexes. `calls` names what the service asked of it."""

    def __init__(self, *users):
        self.users = {u.user_id: replace(u, listed_sessions={f"{u.user_id}-a": int(NOW + 60)}) for u in users}
        self.session_items = {
            f"{u.user_id}-a": session_item(u, f"{u.user_id}-a", u.generation, NOW + 60, keyCheck="k", sealed=b"s")
            for u in users
        }
        self.phone_hashes: dict[str, str] = {}
        self.erased: list[str] = []
        self.calls: list[str] = []

    def user(self, user_id):
        return self.users.get(user_id)

    def user_ids_by_unionid(self, unionid):
        return sorted(u.user_id for u in self.users.values() if u.unionid == unionid)

    def user_ids_by_phone_hash(self, value):
        return sorted(uid for uid, h in self.phone_hashes.items() if h == value)

    def listed_sessions(self, found):
        self.calls.append("listed_sessions")
        items = [self.session_items.get(sid) for sid in sorted(found.listed_sessions or {})]
        return [item for item in items if item is not None and item["uid"] == found.user_id]

    def block(self, user_id, reason, by, now):
        self.calls.append("block")
        self.users[user_id] = replace(
            self.users[user_id],
            generation="gen-2",
            blocked={"reason": reason, "at": "t", "by": by},
            listed_sessions=None,
        )
        return self.users[user_id]

    def unblock(self, user_id):
        self.calls.append("unblock")
        self.users[user_id] = replace(self.users[user_id], blocked=None)
        return self.users[user_id]

    def new_generation(self, user_id):
        self.calls.append("new_generation")
        self.users[user_id] = replace(self.users[user_id], generation="gen-3", listed_sessions=None)
        return self.users[user_id]

    def delete_user(self, found, current, now):
        assert current is None  # an operator has no session of the user's
        self.calls.append("delete_user")
        self.erased.append(found.user_id)
        del self.users[found.user_id]

    def linked_users(self, found):
        return []


class AccountIds:
    def __init__(self, known: dict[str, str]):
        self.known = known

    def user_id(self, sub, now):
        return self.known.get(sub)


class Trail:
    def __init__(self):
        self.added: list[tuple[str, dict]] = []

    def add(self, user_id, entry, entry_id, now):
        self.added.append((user_id, entry))

    def entries(self, user_id, now):
        return [entry for uid, entry in self.added if uid == user_id]


def service(*users, subs=None):
    store, trail = Store(*users), Trail()
    return OperatorService(store, AccountIds(subs or {}), trail, KEYS, Clock()), store, trail


def request(reason=None, **selector):
    return AdminRequest(OPERATOR, UserSelector(**selector), reason)


ALICE = replace(user("alice-id", openid="o-alice", unionid="u-1"), sub="sub-alice")
BOB = replace(user("bob-id", appid="wxother", openid="o-bob", unionid="u-1"), sub="sub-bob")


def test_each_identifier_names_its_user_and_an_action_needs_exactly_one():
    ops, store, _ = service(ALICE, BOB, subs={"sub-alice": "alice-id"})
    store.users[user_id_for(APPID, "o-carol")] = replace(user(user_id_for(APPID, "o-carol"), openid="o-carol"))
    assert [u["openid"] for u in ops.find(request(sub="sub-alice"))["users"]] == ["o-alice"]
    assert [u["openid"] for u in ops.find(request(appid=APPID, openid="o-carol"))["users"]] == ["o-carol"]
    assert [u["openid"] for u in ops.find(request(unionid="u-1"))["users"]] == ["o-alice", "o-bob"]
    with pytest.raises(AmbiguousUser):
        ops.show(request(unionid="u-1"))
    with pytest.raises(NotFound):
        ops.show(request(sub="sub-nobody"))
    # A sub names one account: a user made anew under the same partition is another account.
    store.users["alice-id"] = replace(ALICE, sub="sub-new")
    assert ops.find(request(sub="sub-alice"))["users"] == []


def test_a_phone_number_finds_its_user_by_the_keyed_hash_in_any_spelling():
    ops, store, _ = service(ALICE)
    store.phone_hashes["alice-id"] = phone_hash(KEYS, PHONE)
    for spelling in ("+8613800138000", "13800138000", "+86 138 0013 8000"):
        assert [u["sub"] for u in ops.find(request(phone=spelling))["users"]] == ["sub-alice"]
    with pytest.raises(InvalidRequest):
        ops.find(request(phone="twelve"))


def logged_in(store, user_id, sid, expires_at=NOW + 60):
    """A login of the user now: a session item under its generation, listed on its item."""
    found = store.users[user_id]
    store.session_items[sid] = session_item(found, sid, found.generation, expires_at)
    store.users[user_id] = replace(found, listed_sessions={**(found.listed_sessions or {}), sid: int(expires_at)})


def test_block_unblock_sign_out_and_erase_change_what_they_say_and_leave_an_entry_naming_the_operator():
    ops, store, trail = service(ALICE, subs={"sub-alice": "alice-id"})
    blocked = ops.block(request(reason="coupon abuse", sub="sub-alice"))
    assert blocked["blocked"] == {"reason": "coupon abuse", "at": "t", "by": OPERATOR}
    assert blocked["sessions"] == 0  # the session was issued under the old generation
    assert ops.unblock(request(reason="appeal", sub="sub-alice"))["blocked"] is None
    logged_in(store, "alice-id", "phone")
    logged_in(store, "alice-id", "tablet")
    signed_out = ops.sign_out(request(sub="sub-alice"))
    assert signed_out["sessionsEnded"] == 2 and signed_out["user"]["sessions"] == 0
    assert ops.erase(request(reason="legal", sub="sub-alice"))["erased"]["sub"] == "sub-alice"
    assert store.erased == ["alice-id"]
    actions = [(entry["action"], entry["actor"], entry["sub"]) for _, entry in trail.added]
    assert actions == [
        ("operator_block", OPERATOR, "sub-alice"),
        ("operator_unblock", OPERATOR, "sub-alice"),
        ("operator_signout", OPERATOR, "sub-alice"),
        ("operator_erase", OPERATOR, "sub-alice"),
    ]
    assert trail.added[0][1]["reason"] == "coupon abuse" and trail.added[0][1]["sessionsEnded"] == 1
    assert trail.added[2][1]["sessionsEnded"] == 2
    # The erased account's trail is still found by its sub while the account id is kept.
    assert len(ops.trail_of(request(sub="sub-alice"))["entries"]) == 4


def test_sessions_are_counted_from_the_users_list_and_sign_out_ends_them_without_deleting_any():
    """Counting reads only the sessions the user item lists (one BatchGetItem); a sign-out is a new generation
    that clears the list: the session items stay, dead, until their TTL."""
    ops, store, trail = service(ALICE, subs={"sub-alice": "alice-id"})
    logged_in(store, "alice-id", "phone")
    logged_in(store, "alice-id", "expired", expires_at=NOW)
    # Listed but not the user's (its item names another user), or of an earlier generation: not counted.
    store.session_items["stranger"] = session_item(BOB, "stranger", ALICE.generation, NOW + 60)
    store.session_items["old-gen"] = session_item(ALICE, "old-gen", "gen-0", NOW + 60)
    alice = store.users["alice-id"]
    store.users["alice-id"] = replace(alice, listed_sessions={**alice.listed_sessions, "stranger": 1, "old-gen": 1})
    # A live session the user item does not list (beyond SESSIONS_LISTED) is not counted.
    store.session_items["unlisted"] = session_item(ALICE, "unlisted", ALICE.generation, NOW + 60)
    assert ops.show(request(sub="sub-alice"))["sessions"] == 2  # alice-id-a and phone
    items_before = dict(store.session_items)
    store.calls.clear()
    signed_out = ops.sign_out(request(sub="sub-alice"))
    assert signed_out["sessionsEnded"] == 2 and signed_out["user"]["sessions"] == 0
    assert store.calls == ["listed_sessions", "new_generation", "listed_sessions"]
    assert store.session_items == items_before  # nothing deleted, nothing rewritten
    assert store.users["alice-id"].listed_sessions is None and store.users["alice-id"].generation == "gen-3"
    assert trail.added[-1][1]["sessionsEnded"] == 2


def test_an_export_holds_the_user_and_no_secret():
    ops, store, trail = service(replace(ALICE, phone=PHONE), subs={"sub-alice": "alice-id"})
    logged_in(store, "alice-id", "ended", expires_at=NOW)  # logged out: expired at once, not exported
    exported = ops.export(request(sub="sub-alice"))
    assert exported["user"]["phone"] == PHONE
    # Each live listed session as its dates only.
    assert exported["sessions"] == [{"createdAt": "2023-11-14T22:13:20Z", "expiresAt": "2023-11-14T22:14:20Z"}]
    assert "riskRank" in exported["user"] and exported["user"]["sub"] == "sub-alice"
    text = json.dumps(exported)
    for secret in ("sessionKey", "SESSION#", "gen-1", "phoneHash", "token-hash", "tokenHash", "keyCheck", "sealed"):
        assert secret not in text
    assert "alice-id-a" not in text  # the session's key (a digest of its login id) is not shown either
    assert [entry["action"] for _, entry in trail.added] == ["operator_export"]
