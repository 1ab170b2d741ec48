"""The user item's list of its newest sessions, as a login's update keeps it (users.py `_list_session`).

What DynamoDB would make of the update is applied here to a dict: the whole list for a user item without one,
else one entry set and the expired and oldest entries removed, each by its own path."""

from __future__ import annotations

import re

from tests.unit.fakes import NOW
from wxlogin.storage.dynamodb import plain
from wxlogin.storage.users import MAX_LISTED, SESSIONS_LISTED, NewSession, _list_session

TTL = 7 * 24 * 3600


def update(listed: dict | None, session_id: str, now: float = NOW) -> dict:
    """The login's update of the user item (its own SET and condition first), as `_list_session` leaves it."""
    expression, condition = "#f0 = :f0", "#gen = :readgen"
    names, values = {"#f0": "lastLoginAt", "#gen": "gen"}, {":f0": {"S": "now"}, ":readgen": {"S": "g"}}
    session = NewSession(session_id, int(now) + TTL)
    expression, condition, removes = _list_session(expression, names, values, condition, listed, session, now)
    return {"set": expression, "condition": condition, "remove": removes, "names": names, "values": values}


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"[#:][A-Za-z0-9_]+", text))


def apply(item_list: dict | None, change: dict) -> dict | None:
    """DynamoDB's view: the condition on the list (its presence, its size against the ceiling: `size` of an
    attribute that is not there fails any comparison), then the whole list or SET and REMOVE of its paths
    (None: refused)."""
    names, values, condition = change["names"], change["values"], change["condition"]
    if "attribute_not_exists(#sessions)" in condition:
        return None if item_list is not None else plain(values[":listed"]["M"])
    ceiling = int(values[":ceiling"]["N"])
    if "size(#sessions) >= :ceiling" in condition:
        return None if item_list is None or len(item_list) < ceiling else plain(values[":listed"]["M"])
    assert "size(#sessions) < :ceiling" in condition
    if item_list is None or len(item_list) >= ceiling:
        return None
    result = dict(item_list)
    for path in change["remove"]:
        result.pop(names[path.removeprefix("#sessions.")], None)
    result[names["#listed"]] = plain({"v": values[":listedUntil"]})["v"]
    return result


def test_every_name_and_value_of_the_update_is_used_as_dynamodb_requires():
    """DynamoDB refuses an update with an unused expression attribute name or value (ValidationException)."""
    for listed in (None, {}, {"old": int(NOW) - 1, "live": int(NOW) + 60}):
        change = update(listed, "new")
        used = placeholders(" ".join([change["set"], change["condition"], *change["remove"]]))
        assert set(change["names"]) | set(change["values"]) == used, listed


def test_a_user_item_without_a_list_gets_one_with_the_new_session_only_if_it_still_has_none():
    change = update(None, "new")
    assert apply(None, change) == {"new": int(NOW) + TTL}
    assert change["remove"] == []
    # A racing login listed its own session meanwhile: this write is refused, and the login reads again.
    assert apply({"other": int(NOW) + 60}, change) is None


def test_expired_entries_are_dropped_and_live_ones_kept():
    listed = {"gone": int(NOW) - 10, "just-gone": int(NOW), "live": int(NOW) + 60}
    assert apply(listed, update(listed, "new")) == {"live": int(NOW) + 60, "new": int(NOW) + TTL}


def test_at_most_the_newest_sessions_listed_are_kept():
    listed = {f"s{i:02}": int(NOW) + 100 + i for i in range(SESSIONS_LISTED)}
    after = apply(listed, update(listed, "new"))
    assert len(after) == SESSIONS_LISTED and "s00" not in after and after["new"] == int(NOW) + TTL
    # A list grown past the limit (logins of the user racing each other) is cut back by the next login.
    grown = {f"s{i:02}": int(NOW) + 100 + i for i in range(SESSIONS_LISTED + 5)}
    after = apply(grown, update(grown, "new"))
    assert len(after) == SESSIONS_LISTED and set(after) == {*(f"s{i:02}" for i in range(6, SESSIONS_LISTED + 5)), "new"}


def test_logins_of_one_user_racing_each_other_are_both_listed():
    """Both read the same list; each sets its own path, so whichever lands second keeps the first's entry."""
    listed = {"live": int(NOW) + 60, "gone": int(NOW) - 1}
    phone, tablet = update(listed, "phone"), update(listed, "tablet")
    for first, second in ((phone, tablet), (tablet, phone)):
        after = apply(apply(listed, first), second)
        assert set(after) == {"live", "phone", "tablet"}
    # Even with a full list, where each drops the oldest entry it read (the same one): the list is one over,
    # until the next login cuts it back.
    full = {f"s{i:02}": int(NOW) + 100 + i for i in range(SESSIONS_LISTED)}
    after = apply(apply(full, update(full, "phone")), update(full, "tablet"))
    assert {"phone", "tablet"} <= set(after) and len(after) == SESSIONS_LISTED + 1
    assert len(apply(after, update(after, "laptop"))) == SESSIONS_LISTED


def test_a_login_whose_own_write_landed_before_lists_its_session_once():
    """A retried attempt (the first one's answer lost) finds its own entry: kept, set again, never dropped."""
    listed = {"new": int(NOW) + TTL, "live": int(NOW) + 60}
    change = update(listed, "new")
    assert change["remove"] == [] and apply(listed, change) == listed


def test_logins_racing_from_a_stale_read_never_grow_the_list_past_its_ceiling_and_the_next_one_cuts_it_back():
    """However many logins of one user race, each from the list it read before the others wrote: the list stops
    at MAX_LISTED (each further write is refused and its login reads again), and a login that reads a list at the
    ceiling replaces it whole with the newest ones. So an operator's read and an erasure's transaction always fit."""
    full = {f"s{i:02}": int(NOW) + 100 + i for i in range(SESSIONS_LISTED)}
    after, refused = dict(full), 0
    for i in range(100):
        landed = apply(after, update(full, f"racer{i:03}"))
        if landed is None:
            refused += 1
        else:
            after = landed
    # The first racer drops the oldest entry it read, as every racer does; each after it only adds.
    assert len(after) == MAX_LISTED and refused == 100 - (MAX_LISTED - SESSIONS_LISTED + 1)
    cut = apply(after, update(after, "next"))
    assert len(cut) == SESSIONS_LISTED and "next" in cut
    # Two logins that both read the list at its ceiling: the first replaces it, the second is refused and reads again.
    first, second = update(after, "a"), update(after, "b")
    assert apply(apply(after, first), second) is None
