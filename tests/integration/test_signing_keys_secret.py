"""The signing keys read from their Secrets Manager secret (moto), cached like the AppSecrets."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from scripts import signing_keys
from tests.unit.test_signing import private_material
from wxlogin.config import load_settings
from wxlogin.keys.appsecrets import SecretsManagerProvider
from wxlogin.keys.signing_keys import SigningKeys, SigningKeysUnavailable

SECRET_ID = "wxlogin/test/signing-keys"


def keys(max_age_seconds: int) -> SigningKeys:
    """As the login function reads them, through a provider of their own (no other test's cache)."""
    settings = load_settings({"SIGNING_KEYS_ID": SECRET_ID, "SECRET_MAX_AGE_SECONDS": str(max_age_seconds)})
    return SigningKeys.from_settings(settings, SecretsManagerProvider())


@pytest.fixture
def secrets_manager():
    with mock_aws():
        yield boto3.client("secretsmanager")


def test_the_key_set_is_read_once_and_cached_for_max_age(secrets_manager, logs):
    first = signing_keys.new_key_set("ES256")
    secrets_manager.create_secret(Name=SECRET_ID, SecretString=json.dumps(first))
    cached = keys(300)
    key_set = cached.current()
    assert key_set.signing_key.kid == first["signingKeyId"]

    # A rotation in the secret is not seen within max_age: signing costs no Secrets Manager call.
    secrets_manager.put_secret_value(SecretId=SECRET_ID, SecretString=json.dumps(signing_keys.new_key_set()))
    assert cached.current() is key_set

    fresh = keys(0)
    assert fresh.current().signing_key.kid != first["signingKeyId"]
    # botocore's own DEBUG lines echo the wire (the secret's value with it); Lambda does not ship them.
    ours = [
        line for line, record in zip(logs.lines, logs.records, strict=True) if not record.name.startswith("botocore")
    ]
    assert not any(line in "\n".join(ours) for line in private_material(first))


@pytest.mark.parametrize("value", [None, "{}", "not json", json.dumps({"signingKeyId": "a", "keys": []})])
def test_a_missing_or_malformed_secret_is_signing_keys_unavailable(secrets_manager, logs, value):
    if value is not None:
        secrets_manager.create_secret(Name=SECRET_ID, SecretString=value)
    with pytest.raises(SigningKeysUnavailable) as raised:
        keys(300).current()
    assert raised.value.status == 500 and raised.value.code == "internal_error"
