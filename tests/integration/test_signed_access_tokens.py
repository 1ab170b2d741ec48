"""Access tokens through the handlers: login and refresh answer them, the published keys verify them, logout
and erasure stop refresh, a missing key set fails before anything is spent, and rotation keeps tokens valid."""

from __future__ import annotations

import json
import logging
import os
import time

import pytest

from scripts import signing_keys
from tests.support.values import APPID, OPENID
from wxlogin.keys.signing import InvalidAccessToken, verify_access_token
from wxlogin.keys.tokens import user_id_for
from wxlogin.storage.users import user_pk

# The in-process events' domain (no Host header): the issuer is the API's own URL.
ISSUER = "https://localhost"
REFRESH = "/v1/auth/token"


def verify(api, token: str) -> dict:
    jwks = api.get("/.well-known/jwks.json").body
    return verify_access_token(token, jwks, issuer=ISSUER, audience=APPID)


def header(token: str) -> dict:
    import jwt

    return jwt.get_unverified_header(token)


def test_login_answers_an_access_token_that_says_who_the_user_is_and_nothing_more(api, aws, login):
    me = login(unionid="u-alice")
    body = me.answer.body
    claims = verify(api, body["accessToken"])
    assert body["accessTokenExpiresIn"] == claims["exp"] - int(time.time()) > 675
    assert claims.keys() == {"iss", "aud", "sub", "client_id", "appid", "openid", "unionid", "iat", "exp", "jti"}
    [user] = [
        item
        for item in aws.items()
        if (item["pk"]["S"], item["sk"]["S"]) == (user_pk(user_id_for(APPID, OPENID)), "USER")
    ]
    assert claims["sub"] == user["sub"]["S"] and claims["openid"] == OPENID
    assert claims["aud"] == APPID and claims["appid"] == APPID and claims["unionid"] == "u-alice"
    assert claims["exp"] - claims["iat"] == 900
    assert header(body["accessToken"])["kid"] == aws.signing_keys()["signingKeyId"]


def test_the_session_token_refreshes_the_access_token_and_nothing_else_does(api, login):
    me = login()
    refreshed = api.post(REFRESH, token=me.token)
    assert refreshed.status == 200 and set(refreshed.body) == {"accessToken", "accessTokenExpiresIn"}
    assert refreshed.headers["Cache-Control"] == "no-store"
    # While the login's token is young, the session gets that same token again (keys/signing.py).
    assert refreshed.body["accessToken"] == me.answer.body["accessToken"]
    assert verify(api, refreshed.body["accessToken"])["openid"] == OPENID
    # An access token is not a session token, here or on any of wxlogin's routes, and the reverse.
    for token in (me.answer.body["accessToken"], None, "garbage"):
        answer = api.post(REFRESH, token=token)
        assert answer.status == 401 and answer.body["error"]["code"] == "unauthorized"
    assert api.get("/v1/me", token=me.answer.body["accessToken"]).status == 401
    with pytest.raises(InvalidAccessToken):
        verify(api, me.token)


def test_an_account_made_after_an_erasure_has_a_new_sub_though_its_openid_is_the_same(api, login):
    # The attack: `sub` was derived from (appid, openid), so whatever an API behind the JWT authorizer kept
    # under it re-attached to the new account of a person who had erased theirs.
    first = login()
    before = verify(api, first.answer.body["accessToken"])
    assert verify(api, api.post(REFRESH, token=first.token).body["accessToken"])["sub"] == before["sub"]
    assert api.delete("/v1/me", token=first.token).status == 204
    again = login()
    assert again.answer.body["isNewUser"] is True
    after = verify(api, again.answer.body["accessToken"])
    assert after["openid"] == before["openid"] == OPENID
    assert after["sub"] != before["sub"]
    assert verify(api, api.post(REFRESH, token=again.token).body["accessToken"])["sub"] == after["sub"]
    # Nothing about the WeChat user predicts it.
    assert after["sub"] != user_id_for(APPID, OPENID) and len(after["sub"]) >= 22


def test_logout_and_erasure_stop_refresh_at_once(api, login):
    me = login()
    assert api.post("/v1/auth/logout", token=me.token).status == 204
    assert api.post(REFRESH, token=me.token).status == 401
    again = login()
    assert api.delete("/v1/me", token=again.token).status == 204
    assert api.post(REFRESH, token=again.token).status == 401


def test_the_jwks_and_discovery_are_public_cacheable_and_hold_no_private_key(api, aws):
    jwks = api.get("/.well-known/jwks.json")
    discovery = api.get("/.well-known/openid-configuration")
    for answer in (jwks, discovery):
        assert answer.status == 200 and answer.headers["Cache-Control"] == "public, max-age=300"
    [key] = jwks.body["keys"]
    assert key["kid"] == aws.signing_keys()["signingKeyId"] and key["alg"] == "RS256" and key["kty"] == "RSA"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & key.keys()
    assert discovery.body == {
        "issuer": ISSUER,
        "jwks_uri": ISSUER + "/.well-known/jwks.json",
        "response_types_supported": [],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }


def test_an_empty_key_set_fails_login_before_the_code_is_spent_and_logs_once(api, aws, wechat, login, logs):
    me = login()
    aws.set_signing_keys({})  # the template's empty secret, before the operator's first step
    api.clear_secret_caches()
    code = wechat.login_code()
    answer = api.post("/v1/auth/login", {"code": code})
    assert answer.status == 500 and answer.body["error"]["code"] == "internal_error"
    assert len(aws.items()) == 2 and wechat.stats()["jscode2session"] == 1  # only the earlier login's
    [line] = logs.at_least(logging.ERROR)
    assert json.loads(line)["error_type"] == "SigningKeysUnavailable" and json.loads(line)["correlation_id"]
    assert api.post(REFRESH, token=me.token).status == 500
    # Published: no keys yet, which is no error (API Gateway may read them while creating an authorizer).
    assert api.get("/.well-known/jwks.json").body == {"keys": []}
    assert api.get("/.well-known/openid-configuration").body["id_token_signing_alg_values_supported"] == []
    aws.set_signing_keys({"keys": []})  # malformed, unlike the empty `{}`
    api.clear_secret_caches()
    assert api.post(REFRESH, token=me.token).status == 500
    # The published keys' own secret, malformed or holding a private key (the wrong secret put there): 500.
    for published in ({"keys": [{"kid": "k"}]}, signing_keys.new_key_set()):
        aws.secrets.put_secret_value(SecretId=os.environ["PUBLISHED_KEYS_ID"], SecretString=json.dumps(published))
        api.clear_secret_caches()
        assert api.get("/.well-known/jwks.json").status == 500
        assert api.get("/.well-known/openid-configuration").status == 500

    aws.set_signing_keys(signing_keys.new_key_set())
    api.clear_secret_caches()
    assert api.post("/v1/auth/login", {"code": code}).status == 200  # the same code still works


def test_rotation_tokens_signed_before_and_after_both_verify_until_the_old_key_is_removed(api, aws, login):
    first = aws.signing_keys()
    old_kid = first["signingKeyId"]
    before = login().answer.body["accessToken"]

    def rotate(document: dict) -> None:
        aws.set_signing_keys(document)
        api.clear_secret_caches()  # as SECRET_MAX_AGE_SECONDS passing would

    added, new_kid = signing_keys.add_key(first)
    rotate(added)
    assert header(login().answer.body["accessToken"])["kid"] == old_kid  # published, not yet signing
    rotate(signing_keys.promote(added, new_kid))
    after = login().answer.body["accessToken"]
    assert header(after)["kid"] == new_kid
    rotate(signing_keys.retire(signing_keys.promote(added, new_kid), old_kid))
    assert verify(api, before)["openid"] == verify(api, after)["openid"] == OPENID
    rotate(signing_keys.remove(aws.signing_keys(), old_kid))
    assert [key["kid"] for key in api.get("/.well-known/jwks.json").body["keys"]] == [new_kid]
    assert verify(api, after)["openid"] == OPENID
    with pytest.raises(InvalidAccessToken):
        verify(api, before)
