"""Every events/ sample through `make invoke`, answering what events/README.md's table says it answers.

Against a running local stack (free ports, passed as make run's variables) and
once with none running, when `make invoke` starts its own AWS and WeChat.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

from local.stack import LocalStack, Ports

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "events" / "README.md").read_text(encoding="utf-8")
# | `login-ok.json` | LoginFunction | 200 (`isNewUser` the first time) |
ROWS = re.findall(r"^\| `([\w-]+\.json)` \| (\w+) \| (\d{3})\b", README, flags=re.MULTILINE)


def _make_invoke(*arguments: str, silent: bool = True, **variables) -> subprocess.CompletedProcess:
    # What a developer's shell has, without the test settings conftest.py puts in this process's environment.
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(ROOT)),
        **{n: str(v) for n, v in variables.items()},
    }
    return subprocess.run(  # noqa: S603 - make, running our own Makefile
        ["make", *(["--no-print-directory", "-s"] if silent else []), "invoke", *arguments],  # noqa: S607 - from PATH
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )


def _result(process: subprocess.CompletedProcess) -> tuple[int, dict | None]:
    assert process.returncode == 0, process.stdout + process.stderr
    result = json.loads(process.stdout)
    return result["statusCode"], json.loads(result["body"]) if result.get("body") else None


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def ports():
    with LocalStack(ports=Ports(0, 0, 0), quiet=True) as stack:
        yield {
            "PORT": _port(stack.api_url),
            "MOTO_PORT": _port(stack.moto_url),
            "WXSIM_PORT": _port(stack.wechat.base_url),
        }


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_stdout_is_only_the_handlers_result_so_it_pipes_into_jq(ports):
    """`make invoke EVENT=... | jq` as typed: no -s, so make's own echo must not reach stdout."""
    ran = _make_invoke("EVENT=events/me-get-no-token.json", silent=False, **ports)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["statusCode"] == 401  # the whole of stdout is one JSON document


def test_the_readme_table_lists_every_event():
    assert sorted(name for name, _, _ in ROWS) == sorted(path.name for path in (ROOT / "events").glob("*.json"))


@pytest.mark.parametrize(("name", "function", "status"), ROWS, ids=[name for name, _, _ in ROWS])
def test_every_event_answers_as_its_readme_says(ports, name, function, status):
    answer_status, body = _result(_make_invoke(f"FUNCTION={function}", f"EVENT=events/{name}", **ports))
    assert answer_status == int(status), body
    error = {400: "invalid_request", 422: "invalid_encrypted_data"}.get(answer_status)
    if error:
        assert body["error"]["code"] == error
    if name == "profile-decrypt-ok.json":
        assert body["profile"]["nickName"] == "Sample"
    if name == "me-patch-ok.json":
        assert body["profile"]["nickName"] == "小程序用户"
    if name == "profile-phone-legacy-ok.json":
        assert body["purePhoneNumber"] == "13800138000"


def test_the_samples_state_is_seeded_in_the_running_stack(ports):
    """A token sample works again after the one that deletes its user: the user and the session are put back."""
    assert _result(_make_invoke("EVENT=events/me-delete-ok.json", **ports))[0] == 204
    status, me = _result(_make_invoke("EVENT=events/me-get-ok.json", **ports))
    assert status == 200 and me["openid"] == "oEventSample00000000000000AB"


def test_without_a_running_stack_it_starts_its_own():
    closed = {"PORT": _closed_port(), "MOTO_PORT": _closed_port(), "WXSIM_PORT": _closed_port()}
    status, login = _result(_make_invoke("EVENT=events/login-ok.json", **closed))
    assert status == 200 and login["isNewUser"] is True


def test_a_function_that_is_not_the_events_is_refused_naming_the_right_one():
    process = _make_invoke("FUNCTION=LoginFunction", "EVENT=events/me-get-ok.json")
    assert process.returncode != 0
    assert "GET /v1/me is routed to AccountFunction, not LoginFunction" in process.stderr
    assert "Traceback" not in process.stderr


def test_a_refused_setting_prints_its_message_alone():
    process = _make_invoke("EVENT=events/login-ok.json", TOKEN_TTL_SECONDS="5")
    assert process.returncode != 0
    assert "LoginFunction: TOKEN_TTL_SECONDS must be between 60 and 31622400, got '5'" in process.stderr
    assert "Traceback" not in process.stderr


def test_without_an_event_it_says_how_to_call_it():
    process = _make_invoke()
    assert process.returncode == 2 and "usage: make invoke EVENT=events/login-ok.json" in process.stderr
