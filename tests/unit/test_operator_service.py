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


class Store:
    """OperatorStore's contract over dicts: users by id, their sessions, the two indexes."""

    def __init__(self, *users):
        self.users = {u.user_id: u for u in users}
        self.sessions_of = {u.user_id: [{"sk": "SESSION#a", "gen": u.generation, "expiresAt": NOW + 60}] for u in users}
        self.phone_hashes: dict[str, str] = {}
        self.erased: list[str] = []

    def user(self, user_id):
        return self.users.get(user_id)

    def user_ids_by_unionid(self, unionid):
        return sorted(u.user_id for u in self.users.values() if u.unionid == unionid)

    def user_ids_by_phone_hash(self, value):
        return sorted(uid for uid, h in self.phone_hashes.items() if h == value)

    def sessions(self, user_id):
        return list(self.sessions_of.get(user_id, []))

    def block(self, user_id, reason, by, now):
        self.users[user_id] = replace(
            self.users[user_id], generation="gen-2", blocked={"reason": reason, "at": "t", "by": by}
        )
        return self.users[user_id]

    def unblock(self, user_id):
        self.users[user_id] = replace(self.users[user_id], blocked=None)
        return self.users[user_id]

    def new_generation(self, user_id):
        self.users[user_id] = replace(self.users[user_id], generation="gen-3")
        return self.users[user_id]

    def delete_sessions(self, user_id):
        return len(self.sessions_of.pop(user_id, []))

    def delete_user(self, found, current):
        assert current is None  # an operator has no session of the user's
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


def test_block_unblock_sign_out_and_erase_change_what_they_say_and_leave_an_entry_naming_the_operator():
    ops, store, trail = service(ALICE, subs={"sub-alice": "alice-id"})
    blocked = ops.block(request(reason="coupon abuse", sub="sub-alice"))
    assert blocked["blocked"] == {"reason": "coupon abuse", "at": "t", "by": OPERATOR}
    assert blocked["sessions"] == 0  # the session was issued under the old generation
    assert ops.unblock(request(reason="appeal", sub="sub-alice"))["blocked"] is None
    assert ops.sign_out(request(sub="sub-alice"))["sessionsEnded"] == 1
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
    # The erased account's trail is still found by its sub while the account id is kept.
    assert len(ops.trail_of(request(sub="sub-alice"))["entries"]) == 4


def test_an_export_holds_the_user_and_no_secret():
    ops, _, trail = service(replace(ALICE, phone=PHONE), subs={"sub-alice": "alice-id"})
    exported = ops.export(request(sub="sub-alice"))
    assert exported["user"]["phone"] == PHONE and len(exported["sessions"]) == 1
    assert "riskRank" in exported["user"] and exported["user"]["sub"] == "sub-alice"
    text = json.dumps(exported)
    for secret in ("sessionKey", "SESSION#", "gen-1", "phoneHash"):
        assert secret not in text
    assert [entry["action"] for _, entry in trail.added] == ["operator_export"]
