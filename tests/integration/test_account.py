"""GET/PATCH/DELETE /v1/me and POST /v1/auth/logout."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from local.template import function_environment, load_template
from tests.support.inprocess import assert_session_ended
from tests.support.values import APPID, OPENID
from wxlogin.keys.tokens import parse_token
from wxlogin.storage.users import SESSIONS_LISTED

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _error(answer, status: int, code: str):
    assert answer.status == status, answer.body
    assert answer.body["error"]["code"] == code


def test_me(api, login):
    me = login(unionid="oUnionMe")
    answer = api.get("/v1/me", token=me.token)
    assert answer.status == 200
    body = answer.body
    assert set(body) == {
        "openid", "unionid", "claimedUnionid", "appid", "profile", "phone", "createdAt", "lastLoginAt", "riskRank"
    }  # fmt: skip
    assert (body["openid"], body["unionid"], body["appid"]) == (OPENID, "oUnionMe", APPID)
    assert body["profile"] is None and body["phone"] is None and body["riskRank"] is None
    assert ISO.match(body["createdAt"]) and ISO.match(body["lastLoginAt"])


@pytest.mark.parametrize("token", [None, "", "garbage", "A" * 22 + "." + "B" * 43])
def test_me_without_a_valid_token_is_401(api, login, token):
    login()
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    _error(api.get("/v1/me", headers=headers), 401, "unauthorized")


def test_expired_token_is_401(api, aws, login):
    me = login()
    session = aws.session_of(me.token)
    aws.dynamodb.update_item(
        TableName=aws.table,
        Key={"pk": session["pk"], "sk": session["sk"]},
        UpdateExpression="SET expiresAt = :past",
        ExpressionAttributeValues={":past": {"N": "1000"}},
    )  # TTL deletion lags; the expiry is checked on every read
    _error(api.get("/v1/me", token=me.token), 401, "unauthorized")


def test_patch_me_fills_in_nickname_and_avatar(api, aws, login):
    me = login()
    answer = api.patch("/v1/me", {"nickName": "小明", "avatarUrl": "https://thirdwx.qlogo.cn/a/b.png"}, token=me.token)
    assert answer.status == 200, answer.body
    assert answer.body["profile"] == {"nickName": "小明", "avatarUrl": "https://thirdwx.qlogo.cn/a/b.png"}
    assert api.get("/v1/me", token=me.token).body == answer.body
    assert api.patch("/v1/me", {"nickName": "Ming"}, token=me.token).body["profile"]["avatarUrl"].startswith("https")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"nickName": ""},
        {"nickName": "x" * 65},
        {"nickName": 5},
        {"nickName": "bad\u0000name"},
        {"avatarUrl": "http://example.com/a.png"},
        {"avatarUrl": "javascript:alert(1)"},
        {"avatarUrl": "https://"},
        {"avatarUrl": "https://user@evil.example/a.png"},
        {"avatarUrl": "https://example.com/" + "a" * 1024},
        {"openid": "oSomeoneElse"},
        {"nickName": "ok", "unionid": "x"},
    ],
)
def test_patch_me_rejects_bad_fields_and_changes_nothing(api, aws, login, body):
    me = login()
    before = aws.items()
    _error(api.patch("/v1/me", body, token=me.token), 400, "invalid_request")
    assert aws.items() == before


def test_logout_revokes_at_once_and_only_that_token(api, aws, login):
    first = login()
    second = login()
    kept = aws.session_of(second.token)
    assert api.post("/v1/auth/logout", token=first.token).status == 204
    # Ended in place, not deleted: a retry of its login finds it and is refused at once.
    assert_session_ended(aws.session_of(first.token), time.time())
    _error(api.get("/v1/me", token=first.token), 401, "unauthorized")
    _error(api.post("/v1/auth/logout", token=first.token), 401, "unauthorized")
    assert api.get("/v1/me", token=second.token).status == 200
    assert aws.session_of(second.token) == kept


def test_logout_with_a_token_of_the_session_but_not_its_own_is_401_and_ends_nothing(api, aws, login):
    """The token's id names the session item; only the token whose hash it holds ends it."""
    me = login()
    user_id, secret = me.token.split(".")
    forged = f"{user_id}.{secret[:22]}{'A' * 21}"  # the same login id (the session's key), other random bits
    assert parse_token(forged).session_id == parse_token(me.token).session_id
    before = aws.items()
    _error(api.post("/v1/auth/logout", token=forged), 401, "unauthorized")
    _error(api.get("/v1/me", token=forged), 401, "unauthorized")
    assert aws.items() == before and api.get("/v1/me", token=me.token).status == 200


def test_an_erasure_whose_transaction_landed_but_whose_answer_was_lost_is_204(api, aws, login, monkeypatch):
    """botocore retries a transaction whose answer it lost; DynamoDB answers the retry (same ClientRequestToken)
    with success, a store that ignores the token (moto) with a failed condition: either way the erasure is 204.
    One that finds the account made anew since erases nothing of it (401)."""
    from wxlogin.errors import Unauthorized
    from wxlogin.storage.dynamodb import ConditionFailed

    module = api.module(*api.function("AccountFunction"))
    write_together = module.store._write_together

    def landed_then_refused(actions):
        write_together(actions)
        raise ConditionFailed()

    me = login()
    erased_account = module.auth.user(parse_token(me.token))
    monkeypatch.setattr(module.store, "_write_together", landed_then_refused)
    assert api.delete("/v1/me", token=me.token).status == 204
    assert aws.user_of(me.token) is None
    monkeypatch.setattr(module.store, "_write_together", write_together)
    again = login()  # the same person signs up anew: another generation
    with pytest.raises(Unauthorized):
        module.store.delete_user(erased_account, None, time.time())
    assert api.get("/v1/me", token=again.token).status == 200


def test_logout_without_a_token_is_401(api):
    _error(api.post("/v1/auth/logout"), 401, "unauthorized")


def test_delete_me_erases_the_user_and_every_session(api, aws, login):
    sessions = [login() for _ in range(SESSIONS_LISTED)]  # as many as the user item lists
    other = login(openid="oSomebodyElse000000000000000")
    user_id = parse_token(sessions[0].token).user_id
    answer = api.delete("/v1/me", token=sessions[-1].token)
    assert answer.status == 204 and answer.body is None
    now = time.time()
    assert aws.user_of(sessions[0].token) is None
    assert {i["openid"]["S"] for i in aws.items() if i["sk"]["S"] == "USER"} == {other.openid}
    # Each session stays, ended, until its TTL (a retry of its login is refused at once), naming nobody.
    for me in sessions:
        assert_session_ended(aws.session_of(me.token), now, erased=True)
    leftovers = json.dumps([i for i in aws.items() if i["sk"]["S"] != "USER"], default=str)
    assert user_id not in leftovers and OPENID not in leftovers
    for me in sessions:
        _error(api.get("/v1/me", token=me.token), 401, "unauthorized")
    assert api.get("/v1/me", token=other.token).status == 200
    again = login()
    assert again.answer.body["isNewUser"] is True
    for me in sessions:  # the account made anew is another one: no earlier token opens it
        _error(api.get("/v1/me", token=me.token), 401, "unauthorized")


def test_an_erasure_leaves_no_token_working_beyond_the_sessions_the_user_lists(api, aws, login):
    """A client that logs in on every launch has more sessions than the user item lists (SESSIONS_LISTED). The
    erasure ends the listed ones and the caller's own (listed or not); the others still hold the generation
    of a user item that is gone, so none works again (nor refreshes), and they expire by TTL within the
    token's lifetime."""
    sessions = [login() for _ in range(SESSIONS_LISTED + 5)]
    ids = set(aws.user_of(sessions[0].token)["sessions"]["M"])
    assert len(ids) == SESSIONS_LISTED
    listed = [me for me in sessions if parse_token(me.token).session_id in ids]
    unlisted = [me for me in sessions if me not in listed]
    caller, others = unlisted[0], unlisted[1:]
    assert api.delete("/v1/me", token=caller.token).status == 204
    now = time.time()
    for me in [caller, *listed]:
        assert_session_ended(aws.session_of(me.token), now, erased=True)
    ttl = caller.answer.body["expiresIn"]
    for me in others:
        assert int(aws.session_of(me.token)["expiresAt"]["N"]) <= now + ttl
    again = login()
    assert again.answer.body["isNewUser"] is True
    for me in sessions:
        _error(api.get("/v1/me", token=me.token), 401, "unauthorized")
        _error(api.post("/v1/auth/token", token=me.token), 401, "unauthorized")
    assert api.get("/v1/me", token=again.token).status == 200


def test_a_logout_with_a_token_an_erasure_ended_is_401_and_writes_nothing(api, aws, login):
    sessions = [login() for _ in range(SESSIONS_LISTED + 1)]
    ids = set(aws.user_of(sessions[0].token)["sessions"]["M"])
    [unlisted] = [me for me in sessions if parse_token(me.token).session_id not in ids]
    assert api.delete("/v1/me", token=sessions[-1].token).status == 204
    before = aws.items()
    _error(api.post("/v1/auth/logout", token=unlisted.token), 401, "unauthorized")
    assert aws.items() == before


def test_patch_after_delete_does_not_resurrect(api, aws, login):
    me = login()
    assert api.delete("/v1/me", token=me.token).status == 204
    _error(api.patch("/v1/me", {"nickName": "ghost"}, token=me.token), 401, "unauthorized")
    assert aws.user_of(me.token) is None
    [session] = aws.items()  # the ended session alone, until its TTL
    assert session == aws.session_of(me.token)
    assert_session_ended(session, time.time(), erased=True)


def test_post_me_is_the_same_update_for_mini_programs_which_cannot_send_patch(api, aws, login):
    me = login()
    answer = api.post("/v1/me", {"nickName": "小程序"}, token=me.token)
    assert answer.status == 200 and answer.body["profile"]["nickName"] == "小程序"
    _error(api.post("/v1/me", {"avatarUrl": "http://plain.example/a.png"}, token=me.token), 400, "invalid_request")
    assert api.get("/v1/me", token=me.token).body["profile"]["nickName"] == "小程序"


def test_the_account_function_starts_without_cryptography_or_the_data_keys():
    """Its cold start stays small: it never decrypts, so it neither imports cryptography nor knows the keys."""
    root = Path(__file__).resolve().parents[2]
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": os.pathsep.join([str(root / "functions" / "account"), str(root / "layers" / "wxlogin")]),
        "TABLE_NAME": "t",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    prefixes = ("cryptography", "wxlogin.keys.serverkeys")
    probe = f"import sys, app; print(sorted(m for m in sys.modules if m.startswith({prefixes!r})))"
    loaded = subprocess.run(  # noqa: S603 - our own interpreter importing our own handler
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    assert loaded.stdout.strip() == "[]"
    assert "DATA_KEYS_SECRET_ID" not in function_environment(load_template(), "AccountFunction")
