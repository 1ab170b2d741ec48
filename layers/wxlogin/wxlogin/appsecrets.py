"""The Mini Programs this deployment serves and their AppSecrets.

One Secrets Manager secret holds `{"<appid>": "<AppSecret>", ...}`. It is
cached for a bounded age so a rotation takes effect without a redeploy, and
read afresh when WeChat says the AppSecret is wrong (40125) so a rotation
takes effect at once. It is read with the runtime's botocore directly, not
Powertools Parameters, whose providers import boto3 (a tenth of a cold start).
"""

from __future__ import annotations

import json
import re
import time

from . import aws
from .errors import InternalError, InvalidRequest

APPID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class SecretUnavailable(InternalError):
    """The secret is missing, unreadable or malformed: an operator must fix it."""


# secret id -> (when it was read, its apps): one read per instance and max age, whichever AppSecrets asks.
_cache: dict[str, tuple[float, dict[str, str]]] = {}


def clear_cache() -> None:
    _cache.clear()


class AppSecrets:
    def __init__(self, secret_id: str, max_age_seconds: int, client=None, clock=time.monotonic):
        self.secret_id = secret_id
        self.max_age_seconds = max_age_seconds
        self._client = client  # the process's Secrets Manager client unless one is given
        self.clock = clock

    @classmethod
    def from_settings(cls, settings) -> AppSecrets:
        return cls(settings.app_secrets_id, settings.secret_max_age_seconds)

    def _apps(self, fresh: bool = False) -> dict[str, str]:
        cached = _cache.get(self.secret_id)
        if cached is not None and not fresh and self.clock() - cached[0] < self.max_age_seconds:
            return cached[1]
        apps = self._read()
        _cache[self.secret_id] = (self.clock(), apps)
        return apps

    def _read(self) -> dict[str, str]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = (self._client or aws.client("secretsmanager")).get_secret_value(SecretId=self.secret_id)
            apps = json.loads(answer["SecretString"])
        except (BotoCoreError, ClientError, KeyError, ValueError):
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
