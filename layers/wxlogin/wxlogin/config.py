"""The one place that reads configuration.

Every setting comes from an environment variable set in template.yaml, has a
safe default, and is checked once; a bad value fails the cold start with a
message naming the variable instead of failing some request later.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit


class ConfigurationError(RuntimeError):
    """A setting is missing or malformed; the function cannot serve."""


@dataclass(frozen=True)
class Settings:
    table_name: str
    app_secrets_id: str
    wechat_api_base: str
    wechat_connect_timeout: float
    wechat_read_timeout: float
    wechat_busy_retries: int
    token_ttl_seconds: int
    watermark_max_age_seconds: int
    secret_max_age_seconds: int
    login_retry_window_seconds: int
    tracing: bool
    data_keys_secret_id: str
    signing_keys_id: str
    # The signing keys' public halves, all the published-keys function reads.
    published_keys_id: str
    access_token_ttl_seconds: int
    # None: the appid the token is for.
    access_token_audience: str | None
    # None: https://<the domain the request came in on>, the API's own URL.
    access_token_issuer: str | None
    # How long an audit entry is kept (the admin and events functions write them).
    audit_retention_days: int = 180
    # The EventBridge bus the events function publishes to.
    event_bus_name: str = "default"
    # How long a login keeps the session_key it replaces, for data encrypted just before (0: not at all).
    session_key_grace_seconds: int = 300
    # A session asks WeChat's checksession at most once in this long (0: never).
    session_key_check_interval_seconds: int = 300
    # getuserriskrank at sign-up; sign-ups ranked above signup_max_risk_rank are refused.
    signup_risk_check: bool = False
    signup_max_risk_rank: int = 4


def _number(environ, name: str, default, kind, minimum, maximum):
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ConfigurationError(f"{name} must be between {minimum} and {maximum}, got {raw!r}")
    return value


def _url(environ, name: str, default: str | None) -> str | None:
    raw = environ.get(name, "").strip() or default
    if raw is None:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigurationError(f"{name} must be an http(s) URL, got {raw!r}")
    return raw


def _issuer(environ) -> str | None:
    """ACCESS_TOKEN_ISSUER as given (verifiers compare it byte for byte), else https://API_DOMAIN_NAME, else None."""
    domain = environ.get("API_DOMAIN_NAME", "").strip()
    if domain and not re.fullmatch(r"[A-Za-z0-9.-]{1,253}", domain):
        raise ConfigurationError(f"API_DOMAIN_NAME must be a host name, got {domain!r}")
    return _url(environ, "ACCESS_TOKEN_ISSUER", f"https://{domain}" if domain else None)


def _bus_name(environ) -> str:
    raw = environ.get("EVENT_BUS_NAME", "").strip() or "default"
    if not re.fullmatch(r"[A-Za-z0-9._/:-]{1,1600}", raw):
        raise ConfigurationError(f"EVENT_BUS_NAME must be an EventBridge bus name or ARN, got {raw!r}")
    return raw


_TRUE, _FALSE = ("1", "true", "t", "yes", "y", "on"), ("0", "false", "f", "no", "n", "off")


def _flag(environ, name: str, default: bool) -> bool:
    """A boolean the way Powertools reads its own switches."""
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in _TRUE + _FALSE:
        raise ConfigurationError(f"{name} must be true or false, got {raw!r}")
    return raw in _TRUE


def _choice(environ, name: str, default: str, allowed: tuple[str, ...]) -> str:
    raw = environ.get(name, "").strip() or default
    if raw not in allowed:
        raise ConfigurationError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


def _grace_seconds(environ, watermark_max_age_seconds: int) -> int:
    """SESSION_KEY_GRACE_SECONDS, at most the watermark age: older data is refused whichever key opens it."""
    grace = _number(environ, "SESSION_KEY_GRACE_SECONDS", 300, int, 0, 3600)
    return min(grace, watermark_max_age_seconds) if watermark_max_age_seconds else grace


def load_settings(environ=None) -> Settings:
    environ = os.environ if environ is None else environ
    base = _url(environ, "WECHAT_API_BASE", "https://api.weixin.qq.com")
    watermark_max_age_seconds = _number(environ, "WATERMARK_MAX_AGE_SECONDS", 300, int, 0, 366 * 24 * 3600)
    return Settings(
        table_name=environ.get("TABLE_NAME", "").strip() or "wxlogin",
        app_secrets_id=environ.get("APP_SECRETS_ID", "").strip() or "wxlogin/app-secrets",
        wechat_api_base=base.rstrip("/"),
        wechat_connect_timeout=_number(environ, "WECHAT_CONNECT_TIMEOUT_SECONDS", 1.5, float, 0.05, 30),
        wechat_read_timeout=_number(environ, "WECHAT_READ_TIMEOUT_SECONDS", 4.0, float, 0.05, 30),
        wechat_busy_retries=_number(environ, "WECHAT_BUSY_RETRIES", 2, int, 0, 5),
        token_ttl_seconds=_number(environ, "TOKEN_TTL_SECONDS", 7 * 24 * 3600, int, 60, 366 * 24 * 3600),
        watermark_max_age_seconds=watermark_max_age_seconds,
        secret_max_age_seconds=_number(environ, "SECRET_MAX_AGE_SECONDS", 300, int, 0, 24 * 3600),
        login_retry_window_seconds=_number(environ, "LOGIN_RETRY_WINDOW_SECONDS", 300, int, 10, 3600),
        # XRAY_TRACING is the template's XRayTracing parameter (the functions' Tracing mode); Powertools'
        # own switch still turns it off where there is no X-Ray daemon (tests, the local stack).
        tracing=_choice(environ, "XRAY_TRACING", "PassThrough", ("Active", "PassThrough")) == "Active"
        and not _flag(environ, "POWERTOOLS_TRACE_DISABLED", False),
        data_keys_secret_id=environ.get("DATA_KEYS_SECRET_ID", "").strip() or "wxlogin/data-keys",
        signing_keys_id=environ.get("SIGNING_KEYS_ID", "").strip() or "wxlogin/signing-keys",
        published_keys_id=environ.get("PUBLISHED_KEYS_ID", "").strip() or "wxlogin/published-keys",
        # The bound on how long a token outlives a logout or an erasure, so at most a day.
        access_token_ttl_seconds=_number(environ, "ACCESS_TOKEN_TTL_SECONDS", 900, int, 60, 24 * 3600),
        access_token_audience=environ.get("ACCESS_TOKEN_AUDIENCE", "").strip() or None,
        access_token_issuer=_issuer(environ),
        audit_retention_days=_number(environ, "AUDIT_RETENTION_DAYS", 180, int, 1, 3653),
        event_bus_name=_bus_name(environ),
        session_key_grace_seconds=_grace_seconds(environ, watermark_max_age_seconds),
        session_key_check_interval_seconds=_number(environ, "SESSION_KEY_CHECK_INTERVAL_SECONDS", 300, int, 0, 86400),
        signup_risk_check=_flag(environ, "SIGNUP_RISK_CHECK", False),
        signup_max_risk_rank=_number(environ, "SIGNUP_MAX_RISK_RANK", 4, int, 0, 4),
    )


# Powertools reads these at set-up: each would log whole events (login codes, Idempotency-Keys, tokens).
POWERTOOLS_EVENT_LOGGING = ("POWERTOOLS_LOGGER_LOG_EVENT", "POWERTOOLS_DEV", "POWERTOOLS_EVENT_HANDLER_DEBUG")


def pin_powertools_event_logging_off(environ=None) -> None:
    """Whatever the deployment sets, no Powertools switch may log a request: called before Powertools is set up."""
    environ = os.environ if environ is None else environ
    for name in POWERTOOLS_EVENT_LOGGING:
        environ[name] = "false"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
