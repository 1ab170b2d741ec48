"""AppSecrets over its own SecretsProvider, and the one map from WeChat's errcodes to the contract."""

from __future__ import annotations

import pytest

from tests.support.values import APPID, OTHER_APPID
from tests.unit.fakes import SecretsProvider
from wxlogin.errors import InvalidCode, InvalidRequest, RateLimited, UserBlocked, WeChatError
from wxlogin.keys.appsecrets import AppSecrets, SecretUnavailable
from wxlogin.wechat.errors import WeChatApiError, WeChatErrcode, contract_error


def app_secrets(value: str | Exception) -> tuple[AppSecrets, SecretsProvider]:
    provider = SecretsProvider(value)
    return AppSecrets("apps", 300, provider=provider), provider


def test_the_secret_is_read_once_and_served_from_the_cache():
    apps, provider = app_secrets(f'{{"{APPID}": "s1"}}')
    assert apps.resolve_appid(None) == APPID and apps.secret_for(APPID) == "s1"
    assert provider.fetches == 1
    apps.clear_cache()
    apps.secret_for(APPID)
    assert provider.fetches == 2


def test_with_several_apps_the_appid_is_required_and_must_be_listed():
    apps, _ = app_secrets(f'{{"{APPID}": "s1", "{OTHER_APPID}": "s2"}}')
    assert apps.resolve_appid(OTHER_APPID) == OTHER_APPID
    for appid in (None, "wxunknown"):
        with pytest.raises(InvalidRequest):
            apps.resolve_appid(appid)


@pytest.mark.parametrize("value", ["{}", '["s1"]', f'{{"{APPID}": ""}}', f'{{"{APPID}": 1}}', PermissionError()])
def test_an_empty_malformed_or_unreadable_secret_is_secret_unavailable(value):
    apps, _ = app_secrets(value)
    with pytest.raises(SecretUnavailable):
        apps.resolve_appid(None)


def test_40125_forces_one_fresh_read_and_one_more_try():
    apps, provider = app_secrets(f'{{"{APPID}": "old"}}')
    apps.secret_for(APPID)
    provider.value = f'{{"{APPID}": "new"}}'
    tried = []

    def call(secret):
        tried.append(secret)
        if secret == "old":
            raise WeChatApiError(WeChatErrcode.INVALID_APPSECRET)
        return "ok"

    assert apps.call_with_secret(APPID, call) == "ok" and tried == ["old", "new"]


def test_40125_with_an_unchanged_secret_is_not_tried_again():
    apps, _ = app_secrets(f'{{"{APPID}": "same"}}')
    tried = []

    def call(secret):
        tried.append(secret)
        raise WeChatApiError(40125)

    with pytest.raises(WeChatApiError) as refused:
        apps.call_with_secret(APPID, call)
    assert refused.value.errcode == WeChatErrcode.INVALID_APPSECRET and tried == ["same"]


@pytest.mark.parametrize(
    "errcode, error",
    [(40029, InvalidCode), (40163, InvalidCode), (40226, UserBlocked), (45011, RateLimited), (40013, WeChatError),
     (40125, WeChatError), (-1, WeChatError), (99999, WeChatError)],
)  # fmt: skip
def test_each_errcode_has_one_contract_error(errcode, error):
    mapped = contract_error(errcode)
    assert type(mapped) is error
    if error is WeChatError:
        assert mapped.errcode == errcode  # logged as wechat_errcode for the operator


@pytest.mark.parametrize("errcode", [40029, 40163, 40013])
def test_a_refused_phone_button_code_is_invalid_request_not_invalid_code(errcode):
    mapped = contract_error(errcode, phone_code=True)
    assert type(mapped) is InvalidRequest and "tap the button again" in mapped.message
    assert type(contract_error(45011, phone_code=True)) is RateLimited


class SecretsClient:
    """Secrets Manager's two reads over a dict of secrets, every request recorded; a missing one is an error."""

    def __init__(self, secrets: dict[str, str]):
        self.secrets = secrets
        self.requests: list[tuple[str, ...]] = []

    def get_secret_value(self, SecretId):  # noqa: N803 - botocore's parameter name
        self.requests.append(("get", SecretId))
        if SecretId not in self.secrets:
            raise PermissionError(SecretId)
        return {"Name": SecretId, "SecretString": self.secrets[SecretId]}

    def batch_get_secret_value(self, SecretIdList):  # noqa: N803
        self.requests.append(("batch", *SecretIdList))
        return {
            "SecretValues": [
                {"ARN": f"arn:{n}", "Name": n, "SecretString": self.secrets[n]}
                for n in SecretIdList
                if n in self.secrets
            ],
            "Errors": [
                {"SecretId": n, "ErrorCode": "AccessDeniedException"} for n in SecretIdList if n not in self.secrets
            ],
        }


def test_secrets_read_together_come_in_one_request_and_age_and_refresh_each_alone():
    from wxlogin.keys.appsecrets import SecretsManagerProvider

    now = [0.0]
    client = SecretsClient({"apps": f'{{"{APPID}": "s1"}}', "keys": '{"current": "k1"}', "signing": "{}"})
    provider = SecretsManagerProvider(client, clock=lambda: now[0], read_together=("apps", "keys", "signing"))
    assert provider.get("keys", max_age=300, transform="json") == {"current": "k1"}
    assert provider.get("apps", max_age=300, transform="json") == {APPID: "s1"}
    assert provider.get("signing", max_age=300) == "{}"
    assert client.requests == [("batch", "keys", "apps", "signing")]
    client.secrets["apps"] = f'{{"{APPID}": "s2"}}'
    assert provider.get("apps", max_age=300, transform="json", force_fetch=True) == {APPID: "s2"}
    assert client.requests[1:] == [("get", "apps")]  # a fresh read after WeChat's 40125 is that secret's alone
    now[0] = 301.0  # all aged out: the next read brings them all again, in one request
    assert provider.get("signing", max_age=300) == "{}"
    assert provider.get("keys", max_age=300, transform="json") == {"current": "k1"}
    assert client.requests[2:] == [("batch", "signing", "apps", "keys")]


def test_a_secret_the_batch_cannot_read_fails_as_alone_and_its_companions_are_kept():
    from wxlogin.keys.appsecrets import SecretsManagerProvider

    client = SecretsClient({"apps": f'{{"{APPID}": "s1"}}'})
    provider = SecretsManagerProvider(client, read_together=("apps", "signing"))
    with pytest.raises(PermissionError):
        provider.get("signing", max_age=300)
    assert client.requests == [("batch", "signing", "apps"), ("get", "signing")]
    assert AppSecrets("apps", 300, provider=provider).secret_for(APPID) == "s1"
    assert len(client.requests) == 2  # the AppSecrets came with the batch
