"""EventBridge, as the events function publishes to it: PutEvents on one bus, every entry accepted or a fault."""

from __future__ import annotations

from wxlogin import aws
from wxlogin.errors import ServiceUnavailable

# Every event's `source`; consumers match on it and on `detail-type` (docs/operating.md).
SOURCE = "wxlogin"


class EventBus:
    def __init__(self, bus_name: str, client=None):
        self.bus_name = bus_name
        self._client = client

    @property
    def client(self):
        return self._client or aws.client("events", **aws.FAIL_FAST)

    def put(self, events: list[tuple[str, str]]) -> None:
        """Publish (detail-type, detail JSON) pairs; ServiceUnavailable unless EventBridge took them all
        (PutEvents answers 200 with FailedEntryCount for entries it refused)."""
        from botocore.exceptions import BotoCoreError, ClientError

        entries = [
            {"Source": SOURCE, "DetailType": name, "Detail": detail, "EventBusName": self.bus_name}
            for name, detail in events
        ]
        try:
            response = self.client.put_events(Entries=entries)
        except (BotoCoreError, ClientError):
            raise ServiceUnavailable() from None
        if response.get("FailedEntryCount"):
            raise ServiceUnavailable()
