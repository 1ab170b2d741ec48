"""The deployment's key material: sealed session keys, keyed hashes, rotation."""

from __future__ import annotations

import pytest

from wxlogin.keys.serverkeys import KeysUnavailable, ServerKeys, parse_key_set

K1 = "a" * 16 + "first-key-material-000000"
K2 = "b" * 16 + "second-key-material-00000"
SESSION_KEY = "tiihtNczf5v6AKRyjwEUhQ=="


def keys(secret: dict) -> ServerKeys:
    return ServerKeys(lambda: secret)


def test_a_sealed_session_key_opens_only_under_its_own_item_and_generation_and_holds_no_clear_text():
    server = keys({"current": "k1", "k1": K1})
    blob = server.seal_text("session_key", "USER#alice", "gen-1", SESSION_KEY)
    assert SESSION_KEY.encode() not in blob
    assert server.open_text("session_key", "USER#alice", "gen-1", blob) == SESSION_KEY
    # Moved to another item, written back onto the item made anew after an erasure, tampered with, truncated,
    # opened for another purpose: it does not open, and that is an answer (None), not an error.
    assert server.open_text("session_key", "USER#mallory", "gen-1", blob) is None
    assert server.open_text("session_key", "USER#alice", "gen-2", blob) is None
    assert server.open_text("session_key", "USER#alice", "gen-1", blob[:-1] + bytes([blob[-1] ^ 1])) is None
    assert server.open_text("access_token", "USER#alice", "gen-1", blob) is None
    for damaged in (b"", b"\x02", blob[:20], b"\x01" + blob[1:], "not bytes"):
        assert server.open_text("session_key", "USER#alice", "gen-1", damaged) is None
    # The item and generation are separated, so one cannot pass for another ("USER#a" + "b\nc").
    assert server.open_text("session_key", "USER#alice\ngen", "1", blob) is None


def test_rotation_seals_under_the_new_key_and_still_opens_the_old_until_it_is_removed():
    secret = {"current": "k1", "k1": K1}
    server = keys(secret)
    old = server.seal_text("session_key", "USER#alice", "g", SESSION_KEY)
    secret.update({"current": "k2", "k2": K2})
    new = server.seal_text("session_key", "USER#alice", "g", SESSION_KEY)
    assert b"k2" in new[:8] and b"k1" in old[:8]
    assert (
        server.open_text("session_key", "USER#alice", "g", old)
        == server.open_text("session_key", "USER#alice", "g", new)
        == SESSION_KEY
    )
    del secret["k1"]
    # Sealed under a data key the secret no longer holds: stale (the user logs in again), not a 500.
    assert server.open_text("session_key", "USER#alice", "g", old) is None


def test_a_malformed_key_secret_is_still_an_operators_fault():
    blob = keys({"current": "k1", "k1": K1}).seal_text("session_key", "USER#alice", "g", SESSION_KEY)
    with pytest.raises(KeysUnavailable):
        keys({"current": "k9"}).open_text("session_key", "USER#alice", "g", blob)


def test_keyed_hashes_depend_on_purpose_parts_and_key():
    server = keys({"current": "k1", "k1": K1})
    assert server.keyed_hash("login", "wx1", "code") == server.keyed_hash("login", "wx1", "code")
    assert server.keyed_hash("login", "wx1", "code") != server.keyed_hash("ip", "wx1", "code")
    assert server.keyed_hash("login", "wx1", "code") != keys({"current": "k2", "k2": K2}).keyed_hash(
        "login", "wx1", "code"
    )


def test_retry_sealing_keys_differ_by_code_and_idempotency_key():
    server = keys({"current": "k1", "k1": K1})
    base = server.retry_sealing_key("k1", "wx1", "code", "key" * 8)
    assert len(base) == 32
    assert base != server.retry_sealing_key("k1", "wx1", "code2", "key" * 8)
    assert base != server.retry_sealing_key("k1", "wx1", "code", "kez" * 8)


@pytest.mark.parametrize(
    "secret",
    [None, [], {}, {"current": "k1"}, {"current": "k1", "k1": "short"}, {"current": "k9", "k1": K1}, {"k1": K1}],
)
def test_a_malformed_key_secret_is_refused(secret):
    with pytest.raises(KeysUnavailable):
        parse_key_set(secret)


def test_the_key_set_repr_shows_no_material():
    assert K1 not in repr(parse_key_set({"current": "k1", "k1": K1}))
