"""AccessTokens alone: when a token is refreshed, the lease, waiting for another instance, rejection."""

from __future__ import annotations

import pytest

from tests.support.values import APP_SECRET, APPID
from tests.unit.fakes import DEADLINE, NOW, AccessTokenTable, Clock, SecretsProvider, WeChat
from wxlogin.errors import RateLimited, WeChatError, WeChatUnavailable
from wxlogin.keys.appsecrets import AppSecrets
from wxlogin.wechat.access_token import LEASE_SECONDS, REFRESH_MARGIN_SECONDS, AccessTokens
from wxlogin.wechat.errors import WeChatApiError

FRESH = int(NOW) + 7200


def tokens(table: AccessTokenTable, wechat: WeChat, clock: Clock | None = None) -> AccessTokens:
    clock = clock or Clock()
    apps = AppSecrets("apps", 300, provider=SecretsProvider(f'{{"{APPID}": "{APP_SECRET}"}}'))
    return AccessTokens(table, wechat, apps, clock=clock, sleep=clock.sleep)


def test_a_token_far_from_expiry_is_used_without_calling_wechat():
    wechat = WeChat()
    assert tokens(AccessTokenTable("stored", FRESH), wechat).get(APPID, DEADLINE) == "stored"
    assert wechat.calls == []


def test_no_token_or_one_in_its_last_minutes_is_refreshed_once_and_stored():
    for table in (AccessTokenTable(), AccessTokenTable("old", int(NOW) + REFRESH_MARGIN_SECONDS - 1)):
        wechat = WeChat(tokens=[("new", 7200)])
        assert tokens(table, wechat).get(APPID, DEADLINE) == "new"
        assert wechat.calls == [("stable_token", APPID, APP_SECRET, False)]
        assert table.item == {"accessToken": "new", "expiresAt": FRESH}  # saved, lease released


def test_while_another_instance_refreshes_the_old_still_valid_token_is_used():
    table = AccessTokenTable("old", int(NOW) + 60)
    table.item.update(leaseOwner="other", leaseUntil=int(NOW) + LEASE_SECONDS)
    wechat = WeChat()
    assert tokens(table, wechat).get(APPID, DEADLINE) == "old" and wechat.calls == []


def test_without_a_usable_token_the_other_instances_new_one_is_awaited():
    table = AccessTokenTable()
    table.item.update(leaseOwner="other", leaseUntil=int(NOW) + LEASE_SECONDS)
    clock = Clock()

    def lands_after_a_while(current):
        if clock.now >= NOW + 0.2:
            current.item = {"accessToken": "theirs", "expiresAt": FRESH}

    table.on_get = lands_after_a_while
    wechat = WeChat()
    assert tokens(table, wechat, clock).get(APPID, DEADLINE) == "theirs" and wechat.calls == []


def test_waiting_too_long_for_another_instance_is_wechat_unavailable():
    table = AccessTokenTable()
    table.item.update(leaseOwner="other", leaseUntil=int(NOW) + LEASE_SECONDS)
    clock = Clock()
    with pytest.raises(WeChatUnavailable):
        tokens(table, WeChat(), clock).get(APPID, DEADLINE)
    assert 3.0 <= sum(clock.slept) <= 3.1


def test_a_failed_refresh_releases_the_lease_and_maps_the_errcode():
    for errcode, error in ((45011, RateLimited), (40013, WeChatError)):
        table = AccessTokenTable()
        with pytest.raises(error):
            tokens(table, WeChat(tokens=[errcode])).get(APPID, DEADLINE)
        assert "leaseOwner" not in table.item


def test_a_rejected_token_is_refreshed_once_forced_when_wechat_hands_it_back():
    table = AccessTokenTable("stored", FRESH)
    wechat = WeChat(tokens=[("stored", 7200), ("forced", 7200)])
    seen = []

    def api(token):
        seen.append(token)
        if token == "stored":
            raise WeChatApiError(40001)
        return "ok"

    assert tokens(table, wechat).call(APPID, api, DEADLINE) == "ok"
    assert seen == ["stored", "forced"]
    assert [call[3] for call in wechat.calls] == [False, True] and table.item["accessToken"] == "forced"


def test_a_second_rejection_is_not_retried_again():
    table = AccessTokenTable("stored", FRESH)

    def api(token):
        raise WeChatApiError(42001)

    with pytest.raises(WeChatApiError):
        tokens(table, WeChat(tokens=[("new", 7200)])).call(APPID, api, DEADLINE)


def test_a_token_held_in_memory_is_used_until_its_refresh_window_then_the_table_is_read():
    table, clock, wechat = AccessTokenTable("stored", FRESH), Clock(), WeChat()
    instance = tokens(table, wechat, clock)
    assert instance.get(APPID, DEADLINE) == "stored"
    reads = []
    table.on_get = reads.append
    table.item = {"accessToken": "refreshed-elsewhere", "expiresAt": FRESH + 7200}
    assert instance.get(APPID, DEADLINE) == "stored" and reads == []  # warm: no read of the table
    clock.now = FRESH - REFRESH_MARGIN_SECONDS + 1
    assert instance.get(APPID, DEADLINE) == "refreshed-elsewhere" and len(reads) == 1
    assert wechat.calls == []


def test_a_rejected_token_leaves_memory_and_its_replacement_is_held():
    table = AccessTokenTable("stored", FRESH)
    instance = tokens(table, WeChat(tokens=[("new", 7200)]))

    def api(token):
        if token == "stored":
            raise WeChatApiError(40001)
        return token

    assert instance.call(APPID, api, DEADLINE) == "new"
    table.item = {}  # the table lost it: only memory can answer now
    assert instance.call(APPID, api, DEADLINE) == "new"
