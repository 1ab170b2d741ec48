"""Test-wide guards, settings and the shared fixtures.

- No socket may leave the machine: connecting anywhere but loopback fails the test.
- The functions' configuration is set here, before any handler is imported.
- Every log record of every logger is captured, formatted as in Lambda, so
  tests can assert what was (and was not) logged.
- The in-process fixtures (wechat, aws, api, login) of the integration and hardening suites live
  here, once; they import moto, boto3 and the simulator only when a test asks for them, so the
  unit suite loads none of it.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import socket
import threading
import time

import pytest

from tests.support.values import APP_SECRET, APPID, OPENID, SESSION_KEY

os.environ.update(
    {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "TABLE_NAME": "wxlogin-test",
        "APP_SECRETS_ID": "wxlogin/test/app-secrets",
        "DATA_KEYS_SECRET_ID": "wxlogin/test/data-keys",
        "SIGNING_KEYS_ID": "wxlogin/test/signing-keys",
        "PUBLISHED_KEYS_ID": "wxlogin/test/published-keys",
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


@pytest.fixture(scope="session")
def wechat():
    """One simulator for the session (the functions read WECHAT_API_BASE once, at import); reset per test."""
    from local.wechat_simulator import WeChatSimulator
    from tests.support.inprocess import Sim

    simulator = WeChatSimulator(apps={APPID: APP_SECRET}, quiet=True)
    simulator.start()
    os.environ["WECHAT_API_BASE"] = simulator.base_url
    try:
        yield Sim(simulator.base_url)
    finally:
        simulator.stop()


@pytest.fixture(scope="session")
def _handlers(wechat):
    from tests.support.inprocess import Api

    return Api()


@pytest.fixture
def aws():
    """moto with the table, the AppSecrets, the data keys and the signing keys (a fresh RS256 key set, the
    operator's first step) created as template.yaml declares them."""
    import boto3
    from moto import mock_aws

    from local.template import generated_secret_string, table_create_kwargs, ttl_attribute
    from scripts import signing_keys
    from tests.support.inprocess import TEMPLATE, Aws, signing_key_set
    from tests.support.scan import assert_no_session_key_in_clear

    # moto's mock_aws routes every `requests` call through the `responses` library, which logs each
    # passed-through URL (with secret= in it) at INFO. It exists only in tests, not in Lambda.
    logging.getLogger("responses").setLevel(logging.WARNING)
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        table = os.environ["TABLE_NAME"]
        dynamodb.create_table(TableName=table, **table_create_kwargs(TEMPLATE))
        dynamodb.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute(TEMPLATE)}
        )
        secrets = boto3.client("secretsmanager")
        secrets.create_secret(Name=os.environ["APP_SECRETS_ID"], SecretString=json.dumps({APPID: APP_SECRET}))
        secrets.create_secret(Name=os.environ["SIGNING_KEYS_ID"], SecretString=json.dumps(signing_key_set()))
        published = json.dumps(signing_keys.publish(signing_key_set()))
        secrets.create_secret(Name=os.environ["PUBLISHED_KEYS_ID"], SecretString=published)
        data_keys = generated_secret_string(TEMPLATE, "DataKeys")
        secrets.create_secret(Name=os.environ["DATA_KEYS_SECRET_ID"], SecretString=data_keys)
        aws = Aws(dynamodb, secrets, table)
        yield aws
        # Every item any test leaves, as a table export or a read-only role would see it.
        assert_no_session_key_in_clear(aws.items())


@pytest.fixture
def api(_handlers, aws, wechat):
    wechat.reset()
    wechat.set_app(APPID, APP_SECRET)  # undo any rotation an earlier test made
    _handlers.clear_secret_caches()
    _handlers.answers.clear()
    return _handlers


@pytest.fixture
def login(api, wechat):
    """Log a user in through the real route with a code the simulator registered with fixed values."""
    from tests.support.inprocess import LoggedIn

    counter = iter(range(10_000))

    def _login(openid=OPENID, session_key=SESSION_KEY, unionid=None, **body):
        code = f"code{next(counter)}{openid[-6:]}"
        wechat.register(code, openid, session_key, unionid)
        answer = api.post("/v1/auth/login", {"code": code, **body})
        assert answer.status == 200, answer.body
        return LoggedIn(answer.body["token"], openid, session_key, answer)

    return _login


# `make test` runs for minutes, and a single test can take most of one (the fuzz, the concurrency races):
# every 20 s a test is still running, say which on the terminal, so a long step is never a silent one.
# The terminal is stderr as it was before pytest captured it, so no test's captured output holds the line.
HEARTBEAT_SECONDS = 20
_terminal_fd: int | None = None


def pytest_configure(config):
    global _terminal_fd
    _terminal_fd = os.dup(2)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    stop, said = threading.Event(), []

    def beat():
        started = time.monotonic()
        while not stop.wait(HEARTBEAT_SECONDS):
            said.append(True)
            os.write(_terminal_fd, f"\n  {item.nodeid} is still running ({time.monotonic() - started:.0f} s)".encode())

    beating = threading.Thread(target=beat, name="test-heartbeat", daemon=True)
    beating.start()
    try:
        yield
    finally:
        stop.set()
        beating.join()
        if said:
            os.write(_terminal_fd, b"\n")
