"""The scan every in-process test's table gets at its end: no session_key in clear, in any item.

A session_key is 16 random bytes, base64-encoded by WeChat (24 characters ending in `==`). The scan
looks for the suites' fixed keys in every form (text, base64 text, raw bytes, base64 of the raw bytes)
and for any base64 text of 16 bytes in any value, so a key the simulator minted is caught too.
"""

from __future__ import annotations

import base64
import re

from tests.support.values import SESSION_KEY
from wxlogin.keys.serverkeys import SEALED_VERSION

OTHER_SESSION_KEY = "ZmZmZmZmZmZmZmZmZmZmZg=="  # the suites' second session_key
SIXTEEN_BYTES_BASE64 = re.compile(rb"[A-Za-z0-9+/]{21}[AQgw]==")


def _forms(session_key: str) -> list[bytes]:
    raw = base64.b64decode(session_key)
    return [session_key.encode(), raw, base64.b64encode(raw), raw.hex().encode()]


def _values(attr: dict) -> list[bytes]:
    ((kind, value),) = attr.items()
    if kind == "B":
        return [value]
    if kind in ("S", "N"):
        return [value.encode()]
    if kind == "L":
        return [v for item in value for v in _values(item)]
    if kind == "M":
        return [v for item in value.values() for v in _values(item)]
    if kind in ("SS", "NS"):
        return [v.encode() for v in value]
    if kind == "BS":
        return list(value)
    return [str(value).encode()]


def assert_no_session_key_in_clear(items: list[dict]) -> None:
    forms = [form for key in (SESSION_KEY, OTHER_SESSION_KEY) for form in _forms(key)]
    for item in items:
        where = f"{item['pk']['S']} / {item['sk']['S']}"
        if "sessionKey" in item:
            sealed = item["sessionKey"].get("B")
            assert sealed is not None and sealed[0] == SEALED_VERSION, f"{where}: sessionKey is not sealed"
        for name, attr in item.items():
            for value in _values(attr):
                assert not any(form in value for form in forms), f"{where}.{name} holds a session_key"
                assert not SIXTEEN_BYTES_BASE64.search(value), f"{where}.{name} holds base64 of 16 bytes"
