"""The Mini Programs this deployment serves and their AppSecrets.

One Secrets Manager secret holds `{"<appid>": "<AppSecret>", ...}`. It is read through a
Powertools SecretsProvider of our own, cached for a bounded age so a rotation takes effect
without a redeploy, and read afresh when WeChat says the AppSecret is wrong (40125) so a
rotation takes effect at once. The deployment's own keys (serverkeys.py) are read through the
same provider and cache (`shared_provider`, `read_json_secret`).
"""

from __future__ import annotations

from .errors import InternalError, InvalidRequest
from .wechat_errors import WeChatApiError, WeChatErrcode


class SecretUnavailable(InternalError):
    """The secret is missing, unreadable or malformed: an operator must fix it."""


def default_provider():
    """A SecretsProvider on a client of boto3's default session, the one the DynamoDB client is made from.

    Left alone, Powertools makes its provider a session of its own, which loads botocore's endpoint and
    service indexes a second time: about 70 ms of a cold login (scripts/bench.py).
    """
    # Deferred for the cold start: only functions that read the secret load Parameters and boto3.
    import boto3
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=boto3.client("secretsmanager"))


_shared = None


def shared_provider():
    """The one SecretsProvider (and cache) of this instance: made on first use, never at import."""
    global _shared
    if _shared is None:
        _shared = default_provider()
    return _shared


def read_json_secret(provider, secret_id: str, max_age_seconds: int, fresh: bool = False):
    """The secret's JSON value, cached by `provider` for `max_age_seconds`; SecretUnavailable if unreadable."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError

    try:
        return provider.get(secret_id, transform="json", max_age=max_age_seconds, force_fetch=fresh)
    except (GetParameterError, TransformParameterError):
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
        """The SecretsProvider given, or the shared one made on first use (never at import)."""
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
