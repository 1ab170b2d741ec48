"""`python -m bench` (make bench, after make build): measure, print the report, write the figures as JSON."""

import json
import sys
import tempfile
from pathlib import Path

from .driver import measure
from .lab import BUILD, LAYER_DIR, ROOT
from .report import render, summarise

JSON_PATH = ROOT / "bench-results.json"


def main() -> int:
    if not (LAYER_DIR / "wxlogin").is_dir():
        print(f"no build in {BUILD}: run `make build` first (make bench does)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="wxlogin-bench-") as tmp:
        figures = measure(Path(tmp))
    summary = summarise(figures)
    JSON_PATH.write_text(json.dumps(summary, indent=2) + "\n")
    print(render(summary, figures, JSON_PATH.relative_to(ROOT).as_posix()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
