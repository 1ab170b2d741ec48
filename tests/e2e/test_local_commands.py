"""`make run` as a newcomer meets it: busy ports, Ctrl-C at any moment, refused settings, odd methods, /_sim/.

Each stack runs as its own process group on free ports of 127.0.0.1, with only
the variables a developer would set, and is killed by the test if it outlives it.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from local.stack import LocalStack, Ports, StartupError, check_ports, listen_host

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def _listener(host: str = "127.0.0.1"):
    """Another program holding a port."""
    with socket.socket() as holder:
        holder.bind((host, 0))
        holder.listen()
        yield holder.getsockname()[1]


@contextmanager
def _make_run(**variables):
    """`python -m local.stack` (what `make run` runs) with these variables and free ports for the rest."""
    ports = {name: str(_free_port()) for name in ("PORT", "MOTO_PORT", "WXSIM_PORT")}
    env = {"PATH": os.environ["PATH"], **ports, **{name: str(value) for name, value in variables.items()}}
    process = subprocess.Popen(  # noqa: S603 - our own interpreter running the local stack
        [sys.executable, "-m", "local.stack"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        process.stdout.close()


def _assert_group_gone(process: subprocess.Popen) -> None:
    with pytest.raises(ProcessLookupError):  # no worker outlived the stack
        os.killpg(process.pid, 0)


@pytest.mark.parametrize("variable", ["PORT", "MOTO_PORT", "WXSIM_PORT"])
def test_a_busy_port_fails_at_once_naming_it_and_its_variable(variable):
    with _listener() as busy, _make_run(**{variable: busy}) as process:
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 1, output
    assert f"port {busy} ({variable}) is in use by another program" in output
    assert re.search(rf"move it with `.*\b{variable}=\d+ .*make run`", output), output
    assert "Traceback" not in output and "starting" not in output  # nothing was started
    _assert_group_gone(process)


def test_every_busy_port_is_named_in_one_message_with_one_command_that_moves_them_all():
    """Beside a running stack, one try: the command moves every busy port and keeps the one chosen already."""
    with _listener() as api, _listener() as wechat:
        moto = _free_port()
        with pytest.raises(StartupError) as refused:
            check_ports(Ports(api, moto, wechat))
    message = str(refused.value)
    assert f"port {api} (PORT) is in use" in message and f"port {wechat} (WXSIM_PORT) is in use" in message
    command = re.search(r"move them with `(.*) make run`", message).group(1)
    moved = dict(setting.split("=") for setting in command.split())
    assert set(moved) == {"PORT", "MOTO_PORT", "WXSIM_PORT"} and moved["MOTO_PORT"] == str(moto)
    suggested = Ports(int(moved["PORT"]), int(moved["MOTO_PORT"]), int(moved["WXSIM_PORT"]))
    assert len(set(suggested.by_variable().values())) == 3
    check_ports(suggested)  # following the hint once is enough


def test_a_port_held_on_every_address_is_busy_too():
    with _listener("0.0.0.0") as busy:  # noqa: S104 - a listener on all addresses, as macOS's AirPlay Receiver
        with pytest.raises(StartupError, match=f"port {busy} \\(MOTO_PORT\\)"):
            check_ports(Ports(0, busy, 0))


def test_two_variables_on_one_port_are_refused():
    port = _free_port()
    with pytest.raises(StartupError, match=f"PORT and WXSIM_PORT are both {port}"):
        check_ports(Ports(port, 0, port))


def test_moto_losing_its_port_after_the_check_fails_instead_of_waiting_for_ever():
    with _listener() as busy:
        stack = LocalStack(ports=Ports(0, busy, 0), quiet=True)
        with pytest.raises(StartupError, match="MOTO_PORT"):
            stack._start_moto()
    assert stack.moto is None


def test_make_run_serves_and_stops_cleanly_on_sigterm():
    with _make_run() as process:
        url = next(line.split()[-1] for line in process.stdout if line.strip().startswith("HTTP API"))
        answer = requests.get(f"{url}/v1/me", timeout=30)
        assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthorized"
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "GET /v1/me 401" in output and "stopping" in output and "Traceback" not in output
    _assert_group_gone(process)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_during_start_up_stops_everything(signum):
    with _make_run() as process:
        assert process.stdout.readline().startswith("starting moto")
        process.send_signal(signum)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "stopping" in output and "is up" not in output and "Traceback" not in output
    _assert_group_gone(process)


def test_a_refused_setting_prints_its_message_alone():
    with _make_run(TOKEN_TTL_SECONDS="2") as process:
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 1, output
    assert "TOKEN_TTL_SECONDS must be between 60 and 31622400, got '2'" in output.splitlines()[-1]
    assert "Traceback" not in output and "File " not in output
    _assert_group_gone(process)


@pytest.fixture(scope="module")
def stack():
    with LocalStack(ports=Ports(0, 0, 0), quiet=True) as running:
        yield running


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "PUT", "TRACE"])
def test_methods_without_a_route_get_api_gateways_own_404(stack, method):
    answer = requests.request(method, stack.api_url + "/v1/me", timeout=30)
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/json"
    assert answer.content == (b"" if method == "HEAD" else b'{"message":"Not Found"}')


def test_the_simulator_lists_its_dev_routes_with_their_bodies(stack):
    listing = requests.get(stack.wechat.base_url + "/_sim/", timeout=5)
    assert listing.status_code == 200
    routes = {(route["method"], route["path"]): route for route in listing.json()["routes"]}
    assert ("POST", "/_sim/tokens/expire") in routes and ("GET", "/_sim/") in routes
    assert routes[("POST", "/_sim/login")]["body"].startswith('{"user"')
    # Each listed route is served: a wrong body is the route's own 400, never "no such dev route".
    for method, path in routes:
        body = None if method == "GET" else "[]"
        answer = requests.request(method, stack.wechat.base_url + path, data=body, timeout=5)
        assert answer.status_code == (200 if body is None else 400), (method, path, answer.text)
    page = (ROOT / "docs" / "local-stack.md").read_text(encoding="utf-8")
    for (method, path), route in routes.items():
        assert f"`{method} {path}`" in page and route["body"] in page, path


def _banner_urls(process: subprocess.Popen) -> tuple[dict[str, str], list[str]]:
    """The URLs `make run` prints when it is up (HTTP API, WeChat simulator, moto), and the lines up to them."""
    lines, urls = [], {}
    for line in process.stdout:
        lines.append(line)
        for name in ("HTTP API", "WeChat simulator", "moto (AWS)"):
            if line.strip().startswith(name):
                urls[name] = line.split()[len(name.split())]
        if len(urls) == 3:
            return urls, lines
    raise AssertionError("".join(lines))


def _listening(port: int) -> set[str]:
    """The IPv4 addresses something listens on at this port (Linux's /proc/net/tcp)."""
    addresses = set()
    for row in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = row.split()[1], row.split()[3]
        address, port_hex = local.split(":")
        if state == "0A" and int(port_hex, 16) == port:
            addresses.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return addresses


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads the listeners from Linux's /proc/net/tcp")
def test_host_serves_the_api_and_the_simulator_beyond_loopback_with_a_warning_but_never_moto():
    with _make_run(HOST="0.0.0.0") as process:  # noqa: S104 - what a phone preview asks for
        urls, lines = _banner_urls(process)
        api, wechat, moto = (int(url.rsplit(":", 1)[1]) for url in urls.values())
        everywhere = {"0.0.0.0"}  # noqa: S104 - the listeners' address, compared
        assert _listening(api) == everywhere and _listening(wechat) == everywhere
        assert _listening(moto) == {"127.0.0.1"}
        assert requests.get(urls["HTTP API"] + "/v1/me", timeout=30).status_code == 401
    banner = "".join(lines)
    assert "WARNING: HOST=0.0.0.0" in banner and "network you trust" in banner and "moto" in banner


def test_a_host_that_is_no_address_is_refused_in_one_line():
    assert listen_host({}) == "127.0.0.1"
    with _make_run(HOST="my-laptop.local") as process:
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 1 and "Traceback" not in output, output
    assert "HOST must be an IPv4 address of this machine, e.g. 0.0.0.0, got 'my-laptop.local'" in output


def _make_demo(urls: dict[str, str], **variables) -> subprocess.CompletedProcess:
    """`python -m local.demo` (what `make demo` runs) against that stack, from a shell with these variables."""
    env = {
        "PATH": os.environ["PATH"],
        "PORT": urls["HTTP API"].rsplit(":", 1)[1],
        "WXSIM_PORT": urls["WeChat simulator"].rsplit(":", 1)[1],
        **variables,
    }
    return subprocess.run(  # noqa: S603 - our own interpreter running the demo
        [sys.executable, "-m", "local.demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_make_demo_runs_against_a_stack_started_with_another_app_and_names_a_mismatch():
    """`APP_ID=hello APP_SECRET=x make run`, then `make demo` in a second shell that has no APP_ID."""
    with _make_run(APP_ID="hello", APP_SECRET="x") as process:
        urls, _ = _banner_urls(process)
        demo = _make_demo(urls)
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "demo complete" in demo.stdout
        mismatch = _make_demo(urls, APP_ID="wx0123456789abcdef")
    assert mismatch.returncode == 1 and mismatch.stdout == "" and "Traceback" not in mismatch.stderr
    assert "APP_ID is 'wx0123456789abcdef' here, but the running stack serves 'hello'" in mismatch.stderr
    assert "`APP_ID=wx0123456789abcdef make run`" in mismatch.stderr
