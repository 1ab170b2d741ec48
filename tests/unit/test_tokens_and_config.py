import pytest

from wxlogin.config import ConfigurationError, load_settings
from wxlogin.errors import Unauthorized
from wxlogin.keys.tokens import bearer_token, hash_token, mint_token, parse_token, user_id_for


def test_token_round_trip_and_only_hash_in_ref():
    user_id = user_id_for("wxapp", "openid-1")
    token, ref = mint_token(user_id)
    assert ref.user_id == user_id and ref.token_hash == hash_token(token)
    assert token not in repr(ref)
    assert parse_token(token) == ref
    assert bearer_token(f"Bearer {token}") == ref
    assert bearer_token(f"bearer  {token} ") == ref


def test_tokens_are_random_and_long():
    tokens = {mint_token("A" * 22)[0] for _ in range(200)}
    assert len(tokens) == 200
    assert all(len(t.split(".")[1]) == 43 for t in tokens)  # 256 bits


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
