"""The table's stream (user and session items) into EventBridge events and audit entries.

Lambda reads the stream and calls this with a batch of records; each record is handled alone and the
ones that fail are reported (ReportBatchItemFailures), so Lambda retries from the first failed record
and never loses or skips a change: delivery is at least once, and every event carries the id of its
change for consumers to drop repeats.
"""

from wxlogin.config import get_settings, pin_powertools_event_logging_off

# Before Powertools is imported: the switches that would log whole events (and so records) are pinned off.
# Hence the imports below come after this call (pyproject.toml lets this file do so).
pin_powertools_event_logging_off()

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from wxlogin.services.domain_events import DomainEvents
from wxlogin.storage.account_ids import AccountIds
from wxlogin.storage.audit import AuditTrail
from wxlogin.storage.event_bus import EventBus

settings = get_settings()
logger = Logger()
trail = AuditTrail(settings.table_name, settings.audit_retention_days)
service = DomainEvents(trail, AccountIds(settings.table_name), EventBus(settings.event_bus_name))
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def handle_record(record) -> None:
    published = service.handle(record.raw_event)
    if published:
        logger.info("events published", extra={"events": published})


@logger.inject_lambda_context
def lambda_handler(event, context):
    return process_partial_response(event=event, record_handler=handle_record, processor=processor, context=context)
