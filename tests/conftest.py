"""Test-wide guards and settings.

- No socket may leave the machine: connecting anywhere but loopback fails the test.
- The functions' configuration is set here, before any handler is imported.
- Every log record of every logger is captured, formatted as in Lambda, so
  tests can assert what was (and was not) logged.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket

import pytest

APPID = "wx0123456789abcdef"
APP_SECRET = "0123456789abcdef0123456789abcdef"
OTHER_APPID = "wxfedcba9876543210"
OTHER_APP_SECRET = "fedcba9876543210fedcba9876543210"

os.environ.update(
    {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "TABLE_NAME": "wxlogin-test",
        "APP_SECRETS_ID": "wxlogin/test/app-secrets",
        "POWERTOOLS_SERVICE_NAME": "wxlogin",
        "POWERTOOLS_METRICS_NAMESPACE": "wxlogin",
        "POWERTOOLS_TRACE_DISABLED": "true",
        # Our own logger at DEBUG in every test, so the secret scans see the most that could ever be logged.
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
        # Powertools filters its records out of root handlers present at its first import (to avoid
        # duplicates in Lambda); the `logs` fixture is such a handler when a test causes the cold start.
        "POWERTOOLS_LOG_DEDUPLICATION_DISABLED": "true",
        "WECHAT_CONNECT_TIMEOUT_SECONDS": "0.5",
        "WECHAT_READ_TIMEOUT_SECONDS": "1",
    }
)
for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
    os.environ.pop(_name, None)


def _is_loopback(host) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _checked(address, family):
    if family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
        raise ConnectionRefusedError(f"tests may not reach the network ({address[0]})")


def _guarded_connect(self, address):
    _checked(address, self.family)
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    _checked(address, self.family)
    return _real_connect_ex(self, address)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex


class CapturedLogs(logging.Handler):
    """Every record, formatted the way the functions' Powertools formatter writes it in Lambda."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

        formatter = logging.getLogger(os.environ["POWERTOOLS_SERVICE_NAME"]).handlers[:1]
        fmt = formatter[0].formatter if formatter else LambdaPowertoolsFormatter()
        self.records.append(record)
        self.lines.append(fmt.format(record))

    def at_least(self, level: int) -> list[str]:
        return [line for line, record in zip(self.lines, self.records, strict=True) if record.levelno >= level]


@pytest.fixture
def logs():
    handler = CapturedLogs()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
