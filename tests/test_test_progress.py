"""`make test`'s pytest names a test that is still running, so a long step (the fuzz, the races) is not silent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_long_test_is_named_while_it_runs_and_a_short_one_is_not(tmp_path):
    (tmp_path / "conftest.py").write_text(
        "import tests.conftest as project\n"
        "project.HEARTBEAT_SECONDS = 0.5\n"
        "from tests.conftest import pytest_configure, pytest_runtest_protocol  # noqa: F401\n"
    )
    (tmp_path / "test_timing.py").write_text(
        "import time\n\ndef test_long():\n    time.sleep(1.4)\n\ndef test_short():\n    pass\n"
    )
    ran = subprocess.run(  # noqa: S603 - our own interpreter running pytest
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "test_timing.py::test_long is still running (1 s)" in ran.stderr
    assert "test_short is still running" not in ran.stderr
