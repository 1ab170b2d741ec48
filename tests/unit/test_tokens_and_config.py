import base64

import pytest

from wxlogin.config import ConfigurationError, load_settings
from wxlogin.errors import Unauthorized
from wxlogin.keys.tokens import (
    LOGIN_ID_BYTES,
    bearer_token,
    hash_token,
    mint_token,
    parse_token,
    session_id_for,
    user_id_for,
)

LOGIN_ID = bytes(range(16))


def test_token_round_trip_and_only_hash_in_ref():
    user_id = user_id_for("wxapp", "openid-1")
    token, ref = mint_token(user_id, LOGIN_ID)
    assert ref.user_id == user_id and ref.token_hash == hash_token(token)
    assert token not in repr(ref)
    assert parse_token(token) == ref
    assert bearer_token(f"Bearer {token}") == ref
    assert bearer_token(f"bearer  {token} ") == ref


def test_the_session_id_is_the_login_ids_digest_and_a_token_leads_to_it():
    """A token and a retry of its login (which knows only the login id) both find the same session item."""
    token, ref = mint_token("A" * 22, LOGIN_ID)
    assert ref.session_id == session_id_for(LOGIN_ID) == parse_token(token).session_id
    assert len(ref.session_id) == 16 and LOGIN_ID.hex() not in ref.session_id
    # The login id opens the token's secret; the stored key is its digest, not the id itself.
    secret = base64.urlsafe_b64decode(token.split(".")[1] + "=")
    assert secret[:LOGIN_ID_BYTES] == LOGIN_ID and ref.session_id != _b64(LOGIN_ID)
    assert session_id_for(bytes(16)) != ref.session_id
    # Another token of the same login shares its session id but not its hash: only the minted one opens it.
    again, other = mint_token("A" * 22, LOGIN_ID)
    assert other.session_id == ref.session_id and other.token_hash != ref.token_hash and again != token


def test_tokens_are_random_and_long():
    tokens = {mint_token("A" * 22, LOGIN_ID)[0] for _ in range(200)}
    assert len(tokens) == 200
    assert all(len(t.split(".")[1]) == 43 for t in tokens)  # 32 bytes: the login id, then 128 random bits
    tails = {base64.urlsafe_b64decode(t.split(".")[1] + "=")[LOGIN_ID_BYTES:] for t in tokens}
    assert len(tails) == 200 and all(len(tail) == 16 for tail in tails)
    # Each random bit varies across the tokens: none is stuck, as it would be with fewer than 128 random bits.
    ors = ands = int.from_bytes(next(iter(tails)))
    for tail in tails:
        ors, ands = ors | int.from_bytes(tail), ands & int.from_bytes(tail)
    assert ors == (1 << 128) - 1 and ands == 0


@pytest.mark.parametrize("length", [0, 15, 17, 32])
def test_a_login_id_is_exactly_16_bytes(length):
    with pytest.raises(ValueError):
        mint_token("A" * 22, bytes(length))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_user_id_depends_on_app_and_openid():
    assert user_id_for("a", "o") != user_id_for("b", "o")
    assert user_id_for("a", "o") == user_id_for("a", "o")


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Basic abc", "Bearer abc", "Bearer " + "A" * 22 + "." + "B" * 42, "Token x.y"]
)
def test_malformed_authorization_is_unauthorized(header):
    with pytest.raises(Unauthorized):
        bearer_token(header)


def test_defaults():
    settings = load_settings({})
    assert settings.wechat_api_base == "https://api.weixin.qq.com"
    assert settings.watermark_max_age_seconds == 300
    assert settings.table_name == "wxlogin"
    assert settings.access_token_ttl_seconds == 900
    assert settings.access_token_audience is None and settings.access_token_issuer is None


def test_the_access_token_issuer_is_kept_exactly_as_configured_else_the_custom_domain():
    settings = load_settings({"ACCESS_TOKEN_ISSUER": "https://login.example.com/", "ACCESS_TOKEN_AUDIENCE": "my-api"})
    assert settings.access_token_issuer == "https://login.example.com/"
    assert settings.access_token_audience == "my-api"
    assert load_settings({"API_DOMAIN_NAME": "api.example.com"}).access_token_issuer == "https://api.example.com"
    both = {"API_DOMAIN_NAME": "api.example.com", "ACCESS_TOKEN_ISSUER": "https://cdn.example.com"}
    assert load_settings(both).access_token_issuer == "https://cdn.example.com"


@pytest.mark.parametrize(
    "env, name",
    [
        ({"TOKEN_TTL_SECONDS": "soon"}, "TOKEN_TTL_SECONDS"),
        ({"TOKEN_TTL_SECONDS": "5"}, "TOKEN_TTL_SECONDS"),
        ({"WECHAT_API_BASE": "ftp://x"}, "WECHAT_API_BASE"),
        ({"WATERMARK_MAX_AGE_SECONDS": "-1"}, "WATERMARK_MAX_AGE_SECONDS"),
        ({"ACCESS_TOKEN_TTL_SECONDS": "59"}, "ACCESS_TOKEN_TTL_SECONDS"),
        ({"ACCESS_TOKEN_TTL_SECONDS": "86401"}, "ACCESS_TOKEN_TTL_SECONDS"),
        ({"ACCESS_TOKEN_ISSUER": "login.example.com"}, "ACCESS_TOKEN_ISSUER"),
        ({"ACCESS_TOKEN_ISSUER": "https://login.example.com/?x=1"}, "ACCESS_TOKEN_ISSUER"),
        ({"API_DOMAIN_NAME": "api.example.com/x"}, "API_DOMAIN_NAME"),
    ],
)
def test_bad_configuration_fails_with_the_variable_named(env, name):
    with pytest.raises(ConfigurationError, match=name):
        load_settings(env)
