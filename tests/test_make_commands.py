"""The Makefile's own messages, on a copy of it: a .venv made with another Python, no Python 3.13 at all.

Each case runs make in a scratch folder holding the Makefile, scripts/ and the requirement files (what the
venv targets read), so nothing here touches the project's .venv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Where scripts/find-python313 looks besides PATH and pyenv (which the test hides).
PYTHON_313_PLACES = ["/usr/local/bin/python3.13", "/usr/bin/python3.13", "/opt/homebrew/bin/python3.13"]
PYTHON_313_PLACES += [str(path) for path in Path("/opt/python").glob("3.13*/bin/python3.13")]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("Makefile", "requirements-run.txt", "requirements-dev.txt", "requirements-checkov.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "layers" / "wxlogin").mkdir(parents=True)
    shutil.copy(ROOT / "layers" / "wxlogin" / "requirements.txt", tmp_path / "layers" / "wxlogin")
    return tmp_path


def make(project: Path, *arguments: str, **variables: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "HOME": str(project), **variables}
    return subprocess.run(  # noqa: S603 - make, running a copy of our own Makefile
        ["make", "--no-print-directory", *arguments],  # noqa: S607 - make from PATH, as a user runs it
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def fake_venv(project: Path, version: str) -> None:
    """A .venv whose python is `version`, with the stamps of a finished install."""
    bin_dir = project / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    major_minor = tuple(int(part) for part in version.split(".")[:2])
    python.write_text(
        "#!/bin/sh\n"
        f'case "$1" in --version) echo "Python {version}";; '
        f"-c) exit {0 if major_minor == (3, 13) else 1};; "
        '*) echo "the fake python ran: $*"; exit 0;; esac\n'
    )
    python.chmod(0o755)
    for stamp in (".installed-run", ".installed"):
        (project / ".venv" / stamp).touch()


@pytest.mark.parametrize("target", ["run", "demo", "unit"])
def test_a_venv_made_with_another_python_stops_the_command_and_says_how_to_recreate_it(project, target):
    fake_venv(project, "3.11.7")
    ran = make(project, target)
    assert ran.returncode != 0
    assert ".venv was made with Python 3.11.7, not Python 3.13" in ran.stderr
    assert f"Recreate it: make clean && make {target}" in ran.stderr
    assert "the fake python ran" not in ran.stdout  # nothing used it


def test_a_python_313_venv_passes_the_check(project):
    fake_venv(project, "3.13.0")
    ran = make(project, "run")
    assert ran.returncode == 0, ran.stderr
    assert "the fake python ran: -m local.stack" in ran.stdout


@pytest.mark.skipif(any(Path(place).exists() for place in PYTHON_313_PLACES), reason="a Python 3.13 is installed")
@pytest.mark.parametrize("target", ["run", "test"])
def test_no_python_313_is_said_once_naming_the_command_run(project, target):
    path = ":".join(part for part in os.environ["PATH"].split(":") if "pyenv" not in part and ".venv" not in part)
    ran = make(project, target, PATH=path, PYENV_ROOT=str(project / "no-pyenv"))
    assert ran.returncode != 0
    assert ran.stderr.count("no Python 3.13 found") == 1, ran.stderr
    assert f"make {target} PYTHON313=/path/to/python3.13" in ran.stderr
    other = {"run": "test", "test": "run"}[target]
    assert f"make {other} PYTHON313" not in ran.stderr
    assert not (project / ".venv").exists()
