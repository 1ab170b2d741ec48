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

from wxlogin import aws
from wxlogin.errors import InternalError, InvalidRequest, ServiceUnavailable
from wxlogin.wechat.errors import WeChatApiError, WeChatErrcode


class SecretUnavailable(InternalError):
    """The secret is missing, unreadable or malformed: an operator must fix it."""


# Secrets Manager throttled or failing: a passing fault, not a configuration an operator must fix.
TRANSIENT_SECRET_ERRORS = frozenset({"ThrottlingException", "InternalServiceError", "ServiceUnavailable"})


def unreadable_secret(exc: Exception, operator_error=SecretUnavailable):
    """The contract's error for a secret that could not be read: 503 while Secrets Manager is throttled,
    failing or out of reach (nothing was done; retry later), `operator_error` (500) when it is denied,
    missing or malformed."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ServiceUnavailable):  # OutOfTime: the invocation's deadline refused the attempt
        return exc
    if isinstance(exc, BotoCoreError) or (
        isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in TRANSIENT_SECRET_ERRORS
    ):
        return ServiceUnavailable()
    return operator_error()


class SecretsManagerProvider:
    """The part of a Powertools SecretsProvider AppSecrets uses (`get` with max_age, transform and
    force_fetch; `clear_cache`), over the runtime's botocore: Powertools' providers import boto3,
    about a tenth of a cold start (make bench).

    `read_together` names secrets a function needs on the same request: when one of them is read, every
    one of them not cached afresh comes with it in one BatchGetSecretValue, so a cold login makes one
    Secrets Manager request, not three (make bench). Each is still cached, aged and read afresh
    (`force_fetch`, alone) by itself, and each needs its own GetSecretValue permission, as alone.
    """

    def __init__(self, client=None, clock=time.monotonic, read_together: tuple[str, ...] = ()):
        self._client = client
        self.clock = clock
        self.read_together = read_together
        self._cache: dict[str, tuple[float, str, object]] = {}  # name: (read at, SecretString, parsed JSON)

    @property
    def client(self):
        return self._client or aws.client("secretsmanager", **aws.FAIL_FAST)

    def get(self, name: str, max_age: int, transform: str | None = None, force_fetch: bool = False):
        cached = self._cache.get(name)
        if cached is None or force_fetch or self.clock() - cached[0] >= max_age:
            self._read(name, max_age, alone=force_fetch)
            cached = self._cache[name]
        read_at, text, parsed = cached
        if transform != "json":
            return text
        if parsed is None:
            parsed = json.loads(text)
            self._cache[name] = (read_at, text, parsed)
        return parsed

    def _read(self, name: str, max_age: int, alone: bool) -> None:
        now = self.clock()
        stale = [
            other
            for other in self.read_together
            if other != name and (other not in self._cache or now - self._cache[other][0] >= max_age)
        ]
        if not alone and stale and name in self.read_together:
            wanted = (name, *stale)
            answer = self.client.batch_get_secret_value(SecretIdList=list(wanted))
            found = {
                secret_id: entry["SecretString"]
                for entry in answer.get("SecretValues", [])
                for secret_id in wanted
                if secret_id in (entry.get("ARN"), entry.get("Name")) and "SecretString" in entry
            }
            self._cache.update((secret_id, (now, text, None)) for secret_id, text in found.items())
            if name in found:
                return
        # Alone, or the batch did not answer it: GetSecretValue, whose error says why.
        self._cache[name] = (now, self.client.get_secret_value(SecretId=name)["SecretString"], None)

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
    except Exception as exc:  # any failure to read or parse it: a passing fault or an operator's to fix
        raise unreadable_secret(exc) from None


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
        """Forget the cached secrets of this provider (shared with the data and signing keys read through
        it): the next read goes to Secrets Manager."""
        self.provider.clear_cache()

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
