"""Faults injected through botocore's own event hooks on a client the test builds (never a private attribute)."""

from __future__ import annotations

import boto3
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError


def losing_first_answer(operation: str):
    """A DynamoDB client whose first `operation` is applied but whose answer is lost; botocore retries it.

    The write is applied through a second client before the read timeout is raised: a handler that only
    raises in before-send runs before moto's own, so the table would never have taken the first write."""
    client = boto3.client("dynamodb", config=Config(retries={"mode": "standard", "max_attempts": 3}))
    table_side = boto3.client("dynamodb")
    method = {"PutItem": "put_item", "UpdateItem": "update_item"}[operation]
    sent, lost = [], []

    def keep(params, **_):
        sent.append(dict(params))

    def lose(request, **_):
        if not lost:
            lost.append(operation)
            getattr(table_side, method)(**sent[-1])
            raise ReadTimeoutError(endpoint_url=request.url)

    client.meta.events.register(f"before-parameter-build.dynamodb.{operation}", keep)
    client.meta.events.register_last(f"before-send.dynamodb.{operation}", lose)
    return client, lost
