"""The Mini Programs this deployment serves and their AppSecrets.

One Secrets Manager secret holds `{"<appid>": "<AppSecret>", ...}`. It is read
through Powertools Parameters, cached for a bounded age so a rotation takes
effect without a redeploy, and read afresh when WeChat says the AppSecret is
wrong (40125) so a rotation takes effect at once.
"""

from __future__ import annotations

import re

from .errors import InternalError, InvalidRequest

APPID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class SecretUnavailable(InternalError):
    """The secret is missing, unreadable or malformed: an operator must fix it."""


def _share_default_session(parameters) -> None:
    """Give get_secret a client of boto3's default session, the one the DynamoDB client is made from.

    Left alone, Powertools makes its SecretsProvider a session of its own, which loads botocore's endpoint
    and service indexes a second time: about 70 ms of a cold login (scripts/bench.py). The provider is
    still Powertools' default one, so get_secret's cache, max_age and clear_caches() all work as before.
    """
    from aws_lambda_powertools.utilities.parameters.base import DEFAULT_PROVIDERS

    if "secrets" not in DEFAULT_PROVIDERS:
        import boto3

        DEFAULT_PROVIDERS["secrets"] = parameters.SecretsProvider(boto3_client=boto3.client("secretsmanager"))


class AppSecrets:
    def __init__(self, secret_id: str, max_age_seconds: int):
        self.secret_id = secret_id
        self.max_age_seconds = max_age_seconds

    @classmethod
    def from_settings(cls, settings) -> AppSecrets:
        return cls(settings.app_secrets_id, settings.secret_max_age_seconds)

    def _apps(self, fresh: bool = False) -> dict[str, str]:
        from aws_lambda_powertools.utilities import parameters

        _share_default_session(parameters)
        try:
            apps = parameters.get_secret(
                self.secret_id, transform="json", max_age=self.max_age_seconds, force_fetch=fresh
            )
        except (parameters.exceptions.GetParameterError, parameters.exceptions.TransformParameterError):
            raise SecretUnavailable() from None
        if (
            not isinstance(apps, dict)
            or not apps
            or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in apps.items())
        ):
            raise SecretUnavailable()
        return apps

    def resolve_appid(self, appid: str | None) -> str:
        """The app a login is for: the one asked for, or the only one configured."""
        apps = self._apps()
        if appid is None:
            if len(apps) != 1:
                raise InvalidRequest("appid is required: several Mini Programs are configured.")
            return next(iter(apps))
        if appid not in apps:
            raise InvalidRequest("Unknown appid.")
        return appid

    def secret_for(self, appid: str, fresh: bool = False) -> str:
        secret = self._apps(fresh).get(appid)
        if secret is None:
            # The app vanished from the secret between resolve and use: a rotation removed it.
            raise InvalidRequest("Unknown appid.")
        return secret

    def call_with_secret(self, appid: str, call):
        """`call(secret)`; when WeChat refuses the AppSecret (40125) it took nothing, so a secret rotated
        since we cached it gets one fresh read and one more try."""
        from .wechat import INVALID_APPSECRET, WeChatApiError

        secret = self.secret_for(appid)
        try:
            return call(secret)
        except WeChatApiError as exc:
            if exc.errcode != INVALID_APPSECRET:
                raise
        fresh = self.secret_for(appid, fresh=True)
        if fresh == secret:
            raise WeChatApiError(INVALID_APPSECRET)
        return call(fresh)
