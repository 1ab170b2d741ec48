"""The Mini Programs this deployment serves and their AppSecrets.

One Secrets Manager secret holds `{"<appid>": "<AppSecret>", ...}`. It is read through a
provider (SecretsManagerProvider unless one is given), cached for a bounded age so a rotation
takes effect without a redeploy, and read afresh when WeChat says the AppSecret is wrong (40125)
so a rotation takes effect at once. The deployment's own keys (serverkeys.py) are read through the
same provider and cache (`shared_provider`, `read_json_secret`).
"""

from __future__ import annotations

import json
import time

from . import aws
from .errors import InternalError, InvalidRequest
from .wechat_errors import WeChatApiError, WeChatErrcode


class SecretUnavailable(InternalError):
    """The secret is missing, unreadable or malformed: an operator must fix it."""


class SecretsManagerProvider:
    """The part of a Powertools SecretsProvider AppSecrets uses (`get` with max_age, transform and
    force_fetch; `clear_cache`), over the runtime's botocore: Powertools' providers import boto3,
    about a tenth of a cold start (make bench)."""

    def __init__(self, client=None, clock=time.monotonic):
        self._client = client
        self.clock = clock
        self._cache: dict[str, tuple[float, object]] = {}

    def get(self, name: str, max_age: int, transform: str | None = None, force_fetch: bool = False):
        cached = self._cache.get(name)
        if cached is not None and not force_fetch and self.clock() - cached[0] < max_age:
            return cached[1]
        value = (self._client or aws.client("secretsmanager")).get_secret_value(SecretId=name)["SecretString"]
        if transform == "json":
            value = json.loads(value)
        self._cache[name] = (self.clock(), value)
        return value

    def clear_cache(self) -> None:
        self._cache.clear()


_shared = None


def shared_provider() -> SecretsManagerProvider:
    """The one provider (and cache) of this instance: made on first use, never at import."""
    global _shared
    if _shared is None:
        _shared = SecretsManagerProvider()
    return _shared


def read_json_secret(provider, secret_id: str, max_age_seconds: int, fresh: bool = False):
    """The secret's JSON value, cached by `provider` for `max_age_seconds`; SecretUnavailable if unreadable."""
    try:
        return provider.get(secret_id, transform="json", max_age=max_age_seconds, force_fetch=fresh)
    except Exception:  # as Powertools' providers do: any failure to read or parse it, denied or missing
        raise SecretUnavailable() from None


class AppSecrets:
    def __init__(self, secret_id: str, max_age_seconds: int, provider=None):
        self.secret_id = secret_id
        self.max_age_seconds = max_age_seconds
        self._provider = provider

    @classmethod
    def from_settings(cls, settings, provider=None) -> AppSecrets:
        return cls(settings.app_secrets_id, settings.secret_max_age_seconds, provider)

    @property
    def provider(self):
        """The provider given, or the instance's shared one, made on first use (never at import)."""
        if self._provider is None:
            self._provider = shared_provider()
        return self._provider

    def clear_cache(self) -> None:
        """Forget the cached secret: the next read goes to Secrets Manager."""
        if self._provider is not None:
            self._provider.clear_cache()

    def _apps(self, fresh: bool = False) -> dict[str, str]:
        apps = read_json_secret(self.provider, self.secret_id, self.max_age_seconds, fresh)
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
        secret = self.secret_for(appid)
        try:
            return call(secret)
        except WeChatApiError as exc:
            if exc.errcode != WeChatErrcode.INVALID_APPSECRET:
                raise
        fresh = self.secret_for(appid, fresh=True)
        if fresh == secret:
            raise WeChatApiError(WeChatErrcode.INVALID_APPSECRET)
        return call(fresh)
