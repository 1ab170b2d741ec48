"""One function's Lambda sandbox, for the local gateway: `python -m local.worker <CodeUri> <Handler> <Timeout>`.

Each function runs in its own process, as on Lambda, so each gets exactly the
environment the template gives it and imports its handler once (a cold start),
with the function's folder and then the layer on sys.path, the order Lambda
uses for /var/task and /opt/python.

The worker's first line is {"ready": true}, or {"refused": message} when the
function refuses its settings at cold start (the message names the variable,
with no traceback around it). Then the gateway writes one JSON line per
invocation, {"event", "context"}, and reads one JSON line back, {"result"} or
{"error"}. Each invocation's context counts down from the function's Timeout,
as Lambda's does; the gateway ends a worker that outlasts it. The handler's own
output (Powertools logs) goes to stderr so it cannot corrupt that channel.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "wxlogin"


def load_handler(code_uri: str, handler: str):
    """Import the handler as Lambda does (its cold start); the caller has put the function and layer on sys.path."""
    module_name, function_name = handler.rsplit(".", 1)
    folder = ROOT / code_uri
    spec = importlib.util.spec_from_file_location(module_name, folder / f"{module_name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return getattr(module, function_name)


def serve(code_uri: str, handler_name: str, timeout_seconds: float) -> int:
    from local.http_events import LambdaContext

    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.path[:0] = [str(ROOT / code_uri), str(LAYER)]
    from wxlogin.config import ConfigurationError

    try:
        handler = load_handler(code_uri, handler_name)
    except ConfigurationError as exc:
        channel.write(json.dumps({"refused": str(exc)}) + "\n")
        return 1
    channel.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        context = LambdaContext.starting_now(timeout_seconds, **request["context"])
        try:
            reply = {"result": handler(request["event"], context)}
        except Exception as exc:  # noqa: BLE001 - Lambda reports an unhandled error, the gateway answers 500
            reply = {"error": type(exc).__name__}
        channel.write(json.dumps(reply) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    code_uri, handler_name, timeout = (argv if argv is not None else sys.argv[1:])[:3]
    try:
        return serve(code_uri, handler_name, float(timeout))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the gateway does the reporting
        return 0


if __name__ == "__main__":
    sys.exit(main())
