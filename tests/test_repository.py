"""The repository stands alone: its Markdown links resolve, `make help` names every target, env.json is one sam uses."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from local.template import function_environment, function_routes, load_template

ROOT = Path(__file__).resolve().parents[1]
SKIPPED_DIRS = {".git", ".venv", ".venv-checkov", ".aws-sam", "node_modules", "miniprogram_dist", ".pytest_cache"}
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.MULTILINE)


def _markdown_files() -> list[Path]:
    return sorted(path for path in ROOT.rglob("*.md") if not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts))


def _without_fences(text: str) -> str:
    return re.sub(r"^(```|~~~).*?^\1", "", text, flags=re.MULTILINE | re.DOTALL)


def _prose(text: str) -> str:
    """The Markdown without code blocks and inline code, where brackets are not links."""
    return re.sub(r"`[^`\n]*`", "", _without_fences(text))


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    anchors = set()
    text = _without_fences(path.read_text(encoding="utf-8"))
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", text, flags=re.MULTILINE):
        text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()
        anchors.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return anchors


def _relative_links(path: Path) -> list[str]:
    prose = _prose(path.read_text(encoding="utf-8"))
    links = INLINE_LINK.findall(prose) + REFERENCE_LINK.findall(prose)
    return [link for link in links if not re.match(r"^[a-z][a-z0-9+.-]*:", link, flags=re.IGNORECASE)]


def test_the_checker_sees_the_documentation():
    files = {path.relative_to(ROOT).as_posix() for path in _markdown_files()}
    assert {"README.md", "docs/design.md", "docs/wechat.md", "client/README.md", "events/README.md"} <= files
    assert {"docs/configuration.md", "docs/deploying.md", "docs/operating.md", "docs/local-stack.md"} <= files
    assert "wechat.md#decrypting-encrypteddata" in _relative_links(ROOT / "docs" / "design.md")


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(path):
    broken = []
    for link in _relative_links(path):
        target, _, anchor = link.partition("#")
        resolved = (path.parent / target).resolve() if target else path
        if not resolved.is_relative_to(ROOT) or not resolved.exists():
            broken.append(f"{link}: no such file in the repository")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{link}: {resolved.name} has no heading #{anchor}")
    assert broken == []


def test_the_readme_is_a_page_a_newcomer_reads_in_minutes():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) < 250
    for command in ("make run", "make test"):
        assert f"```sh\n{command}" in readme or f"\n{command} " in readme, command
    assert re.search(r"`make test` takes about \d+ minutes", readme)


def test_the_readmes_api_at_a_glance_lists_every_route_of_the_template():
    """The one-page API table stays true as routes come and go (the example API is the docs' own)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = set()
    for cell in re.findall(r"^\| (`[^|]+) \|", readme, flags=re.MULTILINE):
        methods = re.findall(r"`((?:GET|POST|PATCH|PUT|DELETE) [^`?]+)", cell)
        listed |= {tuple(method.split(" ", 1)) for method in methods}
    # The operator's admin API (IAM only) is docs/operating.md's, not the Mini Program's.
    routes = {
        (method, path)
        for method, path, logical_id, _, _ in function_routes(load_template(ROOT / "template.yaml"))
        if logical_id != "AdminFunction"
    }
    assert routes - listed <= {("GET", "/v1/examples/whoami")}
    assert listed <= routes


# Words that tell the project's own history or review process, which mean nothing to a reader of the docs;
# that history belongs in CHANGELOG.md.
HISTORY = re.compile(
    r"merged from main|the issue'?s\b|issue #?\d|reviewer'?s|\breview(ed)? (process|round)|see the git log"
    r"|this session|before this change|the old code|#\d{2,}\b",
    flags=re.IGNORECASE,
)


@pytest.mark.parametrize(
    "path",
    [path for path in _markdown_files() if path.name != "CHANGELOG.md"],
    ids=lambda path: path.relative_to(ROOT).as_posix(),
)
def test_no_page_tells_the_projects_history(path):
    assert HISTORY.findall(_prose(path.read_text(encoding="utf-8"))) == []


# A path in backticks that names a file or folder of the repository, e.g. `local/stack.py`,
# `layers/wxlogin/wxlogin/web/parsing.py` or the layer-relative `wxlogin/keys/signing.py`.
# (`wxlogin/<stage>/app-secrets` is a secret's name, not a path: only `wxlogin/...py` counts.)
REPOSITORY_PATH = re.compile(
    r"`((?:layers|functions|local|scripts|tests|bench|events|client|example)/[\w./-]*|wxlogin/[\w/]+\.py)`"
)


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_path_a_page_names_exists(path):
    named = REPOSITORY_PATH.findall(_without_fences(path.read_text(encoding="utf-8")))
    missing = []
    for name in named:
        candidates = [ROOT / name, ROOT / "layers" / "wxlogin" / name, path.parent / name]
        if not any(candidate.exists() for candidate in candidates):
            missing.append(name)
    assert missing == []


def test_long_pages_open_with_a_table_of_contents():
    for path in sorted((ROOT / "docs").glob("*.md")):
        text = path.read_text(encoding="utf-8")
        sections = re.findall(r"^## (.+)$", _without_fences(text), flags=re.MULTILINE)
        if len(text.splitlines()) > 120 and len(sections) > 3:
            first_section = text.index("\n## ")
            assert "](#" in text[:first_section], f"{path.name} is long and has no table of contents"


def _aws_commands(text: str) -> list[str]:
    """Each AWS CLI call in a page's code (fenced blocks, and inline code that passes options), lines joined."""
    fence = r"^[ \t]*(?:```|~~~)"  # indented too: the going-live steps' blocks sit inside a list
    code = re.findall(fence + r"[^\n]*\n(.*?)" + fence, text, flags=re.MULTILINE | re.DOTALL)
    code += [span for span in re.findall(r"`([^`\n]+)`", _without_fences(text)) if " --" in span]
    joined = "\n".join(block.replace("\\\n", " ") for block in code)
    return [call.strip() for call in re.findall(r"\baws [a-z][\w-]* [a-z][\w-]*[^|;&)\n]*", joined)]


def test_every_aws_cli_command_in_the_docs_names_its_region():
    """Without --region (or a profile's region) the AWS CLI stops with "You must specify a region"."""
    calls = [call for path in _markdown_files() for call in _aws_commands(path.read_text(encoding="utf-8"))]
    assert len(calls) >= 5, calls  # going live, rotation, the events' table name
    assert [call for call in calls if "--region" not in call] == []


def test_the_example_checklist_names_the_settings_the_example_has():
    page = (ROOT / "docs" / "deploying.md").read_text(encoding="utf-8")
    checklist = page.split("## Point the example at your deployment", 1)[1].split("\n## ", 1)[0]
    project = json.loads((ROOT / "example" / "project.config.json").read_text(encoding="utf-8"))
    config = (ROOT / "example" / "miniprogram" / "config.js").read_text(encoding="utf-8")
    assert project["appid"] in checklist
    assert project["setting"]["urlCheck"] is False and '"urlCheck": true' in checklist
    for key in ("baseUrl", "simulator", "apiOrigins"):
        assert f"`{key}`" in checklist and re.search(rf"^  {key}:", config, flags=re.MULTILINE), key
    assert "apiOrigins: config.apiOrigins" in (ROOT / "example" / "miniprogram" / "app.js").read_text("utf-8")


def _make(target: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - make, running our own Makefile
        ["make", "--no-print-directory", "-s", target],  # noqa: S607 - make from PATH, as a user runs it
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )


def test_make_help_names_every_target():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.search(r"^\.PHONY:(.*)$", makefile, flags=re.MULTILINE).group(1).split()) - {"help"}
    shown = _make("help")
    assert shown.returncode == 0, shown.stderr
    named = set(re.findall(r"^make ([\w-]+)\s", shown.stdout, flags=re.MULTILINE))
    assert targets <= named, f"make help does not name {sorted(targets - named)}"


def test_env_json_sets_only_variables_sam_passes_to_each_function():
    """sam local invoke passes a function only the variables its template environment declares; others vanish."""
    template = load_template(ROOT / "template.yaml")
    functions = {logical_id for _, _, logical_id, _, _ in function_routes(template)}
    settings = json.loads((ROOT / "env.json").read_text(encoding="utf-8"))
    assert set(settings) <= functions | {"Parameters"}
    for logical_id in functions:
        declared = set(function_environment(template, logical_id))
        for scope in ("Parameters", logical_id):
            assert set(settings.get(scope, {})) <= declared, (scope, logical_id)
            assert all(isinstance(value, str) for value in settings.get(scope, {}).values())


def _documented_ranges() -> dict[str, tuple[str, str]]:
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| ([\d.]+) to ([\d.]+)\b", page, flags=re.MULTILINE)
    return {name: (low, high) for name, low, high in rows}


def test_the_documented_allowed_ranges_are_the_ones_enforced():
    from wxlogin.config import ConfigurationError, load_settings

    ranges = _documented_ranges()
    assert {"WECHAT_BUSY_RETRIES", "TOKEN_TTL_SECONDS", "LOGIN_RETRY_WINDOW_SECONDS"} <= set(ranges), ranges
    for name, (low, high) in ranges.items():
        load_settings({name: low})
        load_settings({name: high})
        below, above = (float(low) - 0.01, float(high) + 1) if "." in low else (int(low) - 1, int(high) + 1)
        for outside in (below, above):
            with pytest.raises(ConfigurationError, match=name):
                load_settings({name: str(outside)})


def test_checkov_scans_offline_and_prints_no_traceback():
    scan = _make("checkov")
    output = scan.stdout + scan.stderr
    assert scan.returncode == 0, output
    assert "Failed checks: 0" in output
    assert "Traceback" not in output and "guidelines" not in output  # no attempt to reach checkov's vendor
