"""scripts/signing_keys.py as an operator meets it: --help, a terminal or empty stdin, no PyJWT, the next step.

Every refusal is one line on stderr, nothing on stdout (so nothing reaches `put-secret-value`) and no
traceback; every step that changes the key set says what to do next.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import signing_keys
from tests.test_repository import _anchors

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "signing_keys.py"


class Terminal(io.StringIO):
    """A stream that is a terminal, as stdin or stdout are when the script is run by hand."""

    def isatty(self) -> bool:
        return True


def run(*argv: str, stdin: io.StringIO | None = None, stdout: io.StringIO | None = None) -> tuple[int, str, str]:
    out, err = stdout or io.StringIO(), io.StringIO()
    status = signing_keys.main(list(argv), stdin=stdin or io.StringIO(""), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def script(*argv: str, stdin: str = "", prelude: str = "") -> subprocess.CompletedProcess:
    """The script in a fresh interpreter, as a shell runs it; `prelude` runs first (to hide a package)."""
    code = f"{prelude or 'pass'}; import runpy, sys; sys.argv = {['signing_keys.py', *argv]!r}; "
    code += f"runpy.run_path({str(SCRIPT)!r}, run_name='__main__')"
    return subprocess.run(  # noqa: S603 - our own interpreter running our own script
        [sys.executable, "-c", code], input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=60, check=False
    )


def assert_one_line_refusal(status: int, out: str, err: str, *words: str) -> None:
    assert status == 2 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("signing_keys: ") and all(word in err for word in words), err


def test_help_says_what_each_command_does():
    shown = script("--help")
    assert shown.returncode == 0, shown.stderr
    for name, what in signing_keys.COMMANDS.items():
        # argparse wraps the text: compare it word for word from the command's line on.
        after = shown.stdout.split(f"    {name} ", 1)[1]
        assert " ".join(after.split()).startswith(" ".join(what.split())), name
    assert ".venv/bin/python scripts/signing_keys.py" in shown.stdout  # how to run it with its packages


@pytest.mark.parametrize("command", ["add", "show", "promote", "retire", "remove"])
def test_a_command_that_reads_the_key_set_refuses_a_terminal_and_empty_input(command):
    argv = [command] + ([] if command in ("add", "show") else ["20260101-kid"])
    assert_one_line_refusal(*run(*argv, stdin=Terminal("")), "not from a terminal", "get-secret-value", "--region")
    assert_one_line_refusal(*run(*argv, stdin=io.StringIO("")), "got nothing on stdin", "usage:")
    assert_one_line_refusal(*run(*argv, stdin=io.StringIO(" \n")), "got nothing on stdin")


def test_private_keys_are_never_written_to_a_terminal():
    assert_one_line_refusal(*run("new", stdout=Terminal()), "put-secret-value", "never to a terminal")


def test_input_that_is_no_key_set_is_named_without_a_traceback():
    for text, words in (
        ("not json", ["not JSON"]),
        ("{}", ["no key set yet", "`new`"]),
        ('{"keys": []}', ["at least"]),
    ):
        status, out, err = run("add", stdin=io.StringIO(text))
        assert status == 1 and out == "" and len(err.splitlines()) == 1, err
        assert all(word in err for word in words), err
    ran = script("show", stdin="{")
    assert ran.returncode == 1 and "Traceback" not in ran.stderr and "not JSON" in ran.stderr


def test_without_the_projects_packages_it_names_the_command_that_has_them():
    ran = script("new", prelude="import sys; sys.modules['jwt'] = None")
    assert ran.returncode == 2 and ran.stdout == "" and "Traceback" not in ran.stderr
    assert ".venv/bin/python scripts/signing_keys.py" in ran.stderr and len(ran.stderr.splitlines()) == 1


def test_each_step_says_what_comes_next():
    status, created, told = run("new")
    old = json.loads(created)["signingKeyId"]
    assert status == 0 and "Next: put it in the signing-keys secret" in told
    _, added, told = run("add", stdin=io.StringIO(created))
    new = json.loads(added)["keys"][-1]["kid"]
    assert "Next, in 10 minutes" in told and f"promote {new}" in told
    _, promoted, told = run("promote", new, stdin=io.StringIO(added))
    assert f"retire {old}" in told and f"remove {old}" in told
    _, retired, told = run("retire", old, stdin=io.StringIO(promoted))
    assert f"remove {old}" in told
    status, _, told = run("remove", old, stdin=io.StringIO(retired))
    assert status == 0 and "The rotation is done" in told


def test_the_pages_the_docstring_names_exist():
    named = re.findall(r"docs/([\w-]+\.md)#([\w-]+)", signing_keys.__doc__)
    assert {page for page, _ in named} == {"deploying.md", "operating.md"}
    for page, anchor in named:
        assert anchor in _anchors(ROOT / "docs" / page), (page, anchor)


def test_publish_writes_every_public_half_and_no_private_key_and_serves_the_same_jwks():
    """The published-keys secret's value: what the JWKS function can read must publish exactly what the
    signing set publishes, and nothing that signs."""
    from wxlogin.keys.signing_keys import parse_key_set, parse_published_key_set

    _, created, _ = run("new")
    _, added, _ = run("add", "--algorithm", "ES256", stdin=io.StringIO(created))
    old = json.loads(created)["signingKeyId"]
    _, promoted, _ = run("promote", json.loads(added)["keys"][-1]["kid"], stdin=io.StringIO(added))
    _, retired, _ = run("retire", old, stdin=io.StringIO(promoted))
    for key_set in (created, added, retired):
        status, published, told = run("publish", stdin=io.StringIO(key_set))
        assert status == 0 and "published-keys secret" in told
        assert "PRIVATE" not in published and "privateKey" not in published
        assert parse_published_key_set(published).jwks() == parse_key_set(key_set).jwks()
    with pytest.raises(ValueError, match="private key"):  # the signing set put in the wrong secret, made loud
        parse_published_key_set(json.dumps({"keys": json.loads(created)["keys"]}))
