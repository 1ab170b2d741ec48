"""AWS clients from the runtime's botocore, without boto3, each bounded by the invocation's deadline.

boto3 adds nothing to the low-level clients used here, but importing it costs
about 0.09x the floor of a cold start (`make bench`): it loads s3transfer and
its resource layer. One botocore session makes every client, on first use,
never at import; it reads the region, credentials and endpoint from the
environment as boto3's default session would.

The handler glue names the moment the invocation must answer by (`answer_by`,
from the Lambda context's remaining time); until it is cleared, every client
made here starts an attempt, first or retried, only if that attempt can end
before it. An attempt that cannot is refused with OutOfTime (503
`service_unavailable`) instead of letting Lambda end the invocation, which
would answer API Gateway's own 500 and log nothing of ours. botocore keeps its
own retry rules (which errors, how many, its backoff); this only stops a retry
that could not finish in time.
"""

from __future__ import annotations

import time

from .errors import OutOfTime

# Every client fails fast: a dependency that does not answer within these answers 503 well inside the
# function's timeout, instead of botocore's defaults (60 s reads, 5 legacy attempts) running it out.
FAIL_FAST = {"connect_timeout": 1, "read_timeout": 2, "retries": {"mode": "standard", "max_attempts": 3}}
# The longest one attempt of a FAIL_FAST client may take: connecting, then waiting for the answer.
ATTEMPT_SECONDS = FAIL_FAST["connect_timeout"] + FAIL_FAST["read_timeout"]
# botocore's standard mode waits up to min(2 ** (attempt - 1), 20) s before retrying a throttled call
# (botocore/retries/standard.py, ExponentialBackoff); other errors wait less.
MAX_BACKOFF_SECONDS = 20
# What a service keeps back from WeChat's share of the time to store what WeChat answered: one whole write
# attempt (no attempt starts that could not end in time), and a little for the writes that follow it.
STORE_RESERVE_SECONDS = ATTEMPT_SECONDS + 0.5

_session = None
_clients: dict[str, object] = {}
_deadline: float | None = None  # epoch seconds by which this invocation's calls must have ended


def client(service: str, **config):
    """The process's one client for `service`; `config` (botocore Config arguments) applies when it is made."""
    global _session
    if service not in _clients:
        import botocore.session
        from botocore.config import Config

        if _session is None:
            _session = botocore.session.get_session()
        made = _session.create_client(service, config=Config(**config) if config else None)
        bound_by_deadline(made)
        _clients[service] = made
    return _clients[service]


def answer_by(deadline: float | None) -> None:
    """From now on, no attempt of a client made here may outlast `deadline` (epoch seconds); None lifts it."""
    global _deadline
    _deadline = deadline


def bound_by_deadline(botocore_client) -> None:
    """Hook a botocore client into `answer_by`'s deadline through its own events. botocore calls the handlers of
    the most specific event first, so these go first on the service's own events, where its retry handler is."""
    service = botocore_client.meta.service_model.service_id.hyphenize()
    botocore_client.meta.events.register_first(f"before-send.{service}", _admit_attempt)
    botocore_client.meta.events.register_first(f"needs-retry.{service}", _retry_fits)


def _admit_attempt(**_) -> None:
    """before-send: the attempt starts only if it can end in time. Raised here, OutOfTime is not one of
    botocore's retryable errors, so it leaves the call at once."""
    if _deadline is not None and time.time() + ATTEMPT_SECONDS > _deadline:
        raise OutOfTime()


def _retry_fits(attempts: int, **_) -> bool | None:
    """needs-retry: False (no retry, botocore raises the error it has) when the backoff before the next
    attempt and that attempt could not both end in time; None leaves the decision to botocore's retry rules."""
    if _deadline is None:
        return None
    longest_wait = min(2 ** (attempts - 1), MAX_BACKOFF_SECONDS)
    return False if time.time() + longest_wait + ATTEMPT_SECONDS > _deadline else None
