"""AWS clients from the runtime's botocore, without boto3.

boto3 adds nothing to the low-level clients used here, but importing it costs
about 0.09x the floor of a cold start (`make bench`): it loads s3transfer and
its resource layer. One botocore session makes every client, on first use,
never at import; it reads the region, credentials and endpoint from the
environment as boto3's default session would.
"""

from __future__ import annotations

# Every client fails fast: a dependency that does not answer within these answers 503 well inside the
# function's timeout, instead of botocore's defaults (60 s reads, 5 legacy attempts) running it out.
FAIL_FAST = {"connect_timeout": 1, "read_timeout": 2, "retries": {"mode": "standard", "max_attempts": 3}}

_session = None
_clients: dict[str, object] = {}


def client(service: str, **config):
    """The process's one client for `service`; `config` (botocore Config arguments) applies when it is made."""
    global _session
    if service not in _clients:
        import botocore.session
        from botocore.config import Config

        if _session is None:
            _session = botocore.session.get_session()
        _clients[service] = _session.create_client(service, config=Config(**config) if config else None)
    return _clients[service]
