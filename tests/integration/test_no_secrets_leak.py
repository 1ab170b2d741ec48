"""No session_key, AppSecret, login code, token, access token or signing key in any answer, log line or metric.

Every flow runs with our logger at DEBUG (see tests/conftest.py) and every other
logger captured too; the scan reads what Lambda would ship to CloudWatch.
"""

from __future__ import annotations

import json

from tests.support.values import APP_SECRET, OPENID, SESSION_KEY
from tests.unit.test_signing import private_material


def test_no_secret_in_answers_logs_or_metrics(api, aws, wechat, login, logs, capsys):
    secrets = {APP_SECRET, SESSION_KEY}
    me = login()
    secrets.add(me.token)
    second = login(session_key="ZmZmZmZmZmZmZmZmZmZmZg==")
    secrets |= {second.token, "ZmZmZmZmZmZmZmZmZmZmZg=="}

    code = wechat.login_code("zoe")
    secrets.add(code)
    key = {"Idempotency-Key": "scan-key-Xq3vR8kLm2Np7sTu4wYz"}
    api.post("/v1/auth/login", {"code": code}, headers=key)
    replay = api.post("/v1/auth/login", {"code": code}, headers=key)
    secrets.add(replay.body["token"])
    api.post("/v1/auth/login", {"code": code})  # used code

    data = wechat.user_data(OPENID, session_key="ZmZmZmZmZmZmZmZmZmZmZg==", profile={"nickName": "Scan"})
    api.post("/v1/profile/decrypt", data, token=second.token)
    bad = {**data, "signature": "0" * 40}
    api.post("/v1/profile/decrypt", bad, token=second.token)
    api.get("/v1/me", token=second.token)
    api.patch("/v1/me", {"nickName": "Scanned"}, token=second.token)
    api.get("/v1/me", token=me.token + "x")
    refreshed = api.post("/v1/auth/token", token=second.token)
    secrets |= {me.answer.body["accessToken"], second.answer.body["accessToken"], refreshed.body["accessToken"]}
    api.post("/v1/auth/token", token=refreshed.body["accessToken"])
    api.get("/.well-known/jwks.json")
    api.get("/.well-known/openid-configuration")
    # Every line of every private key's PEM body (the public halves are published on purpose).
    secrets |= set(private_material(aws.signing_keys()))

    for fault in ({"errcode": -1, "count": 5}, {"mode": "hang", "seconds": 3}, {"mode": "drop"}, {"errcode": 40125}):
        wechat.fault(**({"count": 1} | fault))
        fault_code = wechat.login_code("yan")
        secrets.add(fault_code)
        api.post("/v1/auth/login", {"code": fault_code})

    api.post("/v1/auth/logout", token=me.token)
    api.delete("/v1/me", token=second.token)

    out = capsys.readouterr()
    haystacks = {
        # A login answer hands its own token to its client; nothing else may carry a token.
        "answers": "\n".join(_without_own_token(answer) + json.dumps(answer.headers) for answer in api.answers),
        "logs": "\n".join(logs.lines),
        "stdout/stderr (metrics)": out.out + out.err,
    }
    assert logs.lines, "the scan must have seen log lines"
    assert "_aws" in out.out, "the scan must have seen the EMF metrics"
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"a secret reached the {where}"


def _without_own_token(answer) -> str:
    text = answer.text
    for name in ("token", "accessToken"):
        if isinstance(answer.body, dict) and name in answer.body:
            text = text.replace(answer.body[name], f"<the answer's own {name}>", 1)
    return text
