"""The signing-key commands of the docs, run as written by /bin/sh, against a fake `aws` that keeps the secret.

The fake refuses a call without --region, as the AWS CLI does on a machine with no default region, and holds
the secret in a file; so these tests show that going live's step 4 and a whole rotation work as the docs say,
and that a step the script refuses never reaches put-secret-value.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FAKE_AWS = r"""#!/bin/sh
# The AWS CLI's secretsmanager get-secret-value and put-secret-value, on the file $SECRET.
echo "aws $*" >> "$CALLS"
case " $* " in *" --region "*) ;; *) echo "You must specify a region." >&2; exit 255;; esac
case "$2" in
  get-secret-value) cat "$SECRET" ;;
  put-secret-value)
    value=$(cat)
    [ -n "$value" ] || { echo "Invalid length for parameter SecretString, value: 0" >&2; exit 252; }
    printf '%s' "$value" > "$SECRET"; echo '{"VersionId": "v"}' ;;
esac
"""


def _blocks(page: str) -> list[str]:
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    return [
        re.sub(r"^ {3}", "", block, flags=re.MULTILINE)
        for block in re.findall(r"^ *```sh\n(.*?)^ *```", text, flags=re.MULTILINE | re.DOTALL)
    ]


@pytest.fixture
def aws(tmp_path: Path):
    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin" / "aws"
    fake.write_text(FAKE_AWS)
    fake.chmod(0o755)
    secret, calls = tmp_path / "secret", tmp_path / "calls"
    secret.write_text("{}")  # as the stack creates it
    calls.touch()

    def shell(script: str) -> subprocess.CompletedProcess:
        env = {
            "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
            "HOME": str(tmp_path),
            "SECRET": str(secret),
            "CALLS": str(calls),
        }
        return subprocess.run(  # noqa: S603 - /bin/sh running the docs' own commands
            ["/bin/sh", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
        )

    shell.secret = lambda: json.loads(secret.read_text())
    shell.calls = lambda: calls.read_text().splitlines()
    return shell


def test_going_live_step_4_puts_a_fresh_key_set_in_the_secret(aws):
    (step_4,) = [block for block in _blocks("deploying.md") if "signing_keys.py new" in block]
    ran = aws(step_4)
    assert ran.returncode == 0, ran.stderr
    key_set = aws.secret()
    assert key_set["signingKeyId"] == key_set["keys"][0]["kid"] and "privateKey" in key_set["keys"][0]
    assert "Next: put it in the signing-keys secret" in ran.stderr and "Traceback" not in ran.stderr


def test_a_rotation_runs_as_the_operating_page_writes_it(aws):
    (rotation,) = [block for block in _blocks("operating.md") if "rotate()" in block]
    define = rotation.split("rotate add", 1)[0]  # the variables and the function; the steps follow
    assert aws(define + "\nrotate() { :; }").returncode == 0
    aws('keys=$(.venv/bin/python scripts/signing_keys.py new) && printf \'%s\' "$keys" > "$SECRET"')
    old = aws.secret()["signingKeyId"]

    added = aws(define + "rotate add")
    assert added.returncode == 0, added.stderr
    new = next(key["kid"] for key in aws.secret()["keys"] if key["kid"] != old)
    assert f"promote {new}" in added.stderr
    for step in (f"promote {new}", f"retire {old}", f"remove {old}"):
        ran = aws(define + f"rotate {step}")
        assert ran.returncode == 0, (step, ran.stderr)
    assert [key["kid"] for key in aws.secret()["keys"]] == [new] and aws.secret()["signingKeyId"] == new
    assert all("--region" in call for call in aws.calls())


def test_a_step_the_script_refuses_never_reaches_put_secret_value(aws):
    (rotation,) = [block for block in _blocks("operating.md") if "rotate()" in block]
    define = rotation.split("rotate add", 1)[0]
    ran = aws(define + "rotate add")  # the secret is still `{}`: no key set to add to
    assert ran.returncode != 0
    assert "make the first with `new`" in ran.stderr and "Invalid length" not in ran.stderr
    assert not any("put-secret-value" in call for call in aws.calls()) and aws.secret() == {}
