"""The table's stream and EventBridge, locally: what Lambda's event source mapping and a bus rule do on AWS.

- The stream: moto keeps the table's DynamoDB stream (the template's StreamSpecification); a thread reads
  it as Lambda's event source mapping would (from the start, in order, batches of the template's
  BatchSize, the template's FilterCriteria applied) and invokes the template's stream function (the
  events function) in its own worker with Lambda's DynamoDB event. Records it reports failed
  (ReportBatchItemFailures) are sent again from the first failed one, a few times.
- EventBridge: moto's bus (EVENT_BUS_NAME) gets a rule sending every `wxlogin` event to a local queue;
  the same thread drains it, prints one line per event (`make run` shows them) and keeps them in
  `events` (the tests read them there).
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import threading
import time
from datetime import datetime

LOG = logging.getLogger("wxlogin.local")
POLL_SECONDS = 0.2
LOCAL_RETRIES = 3
EVENTS_QUEUE = "wxlogin-local-events"
EVENTS_RULE = "wxlogin-local-events"


def matches(pattern, value) -> bool:
    """An event filter pattern (the subset the template uses: nested keys, exact values, prefix, exists) against a
    value, as Lambda's event filtering documents them
    (https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html)."""
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return False
        for key, part in pattern.items():
            options = part if isinstance(part, list) else []
            exists = [option["exists"] for option in options if isinstance(option, dict) and "exists" in option]
            if exists:
                if (key in value) != exists[0]:
                    return False
            elif key not in value or not matches(part, value[key]):
                return False
        return True
    if isinstance(pattern, list):
        return any(
            (isinstance(value, str) and value.startswith(option["prefix"]))
            if isinstance(option, dict) and "prefix" in option
            else option == value
            for option in pattern
        )
    return pattern == value


def stream_consumer(template: dict) -> tuple[str, dict] | None:
    """(logical id, the DynamoDB event's Properties) of the template's stream function, if it has one."""
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in resource.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") == "DynamoDB":
                return logical_id, event["Properties"]
    return None


def _json_ready(value):
    """Binary attributes as Lambda's JSON event carries them: base64 text."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | set | tuple):
        return [_json_ready(item) for item in value]
    return value


def lambda_record(record: dict, stream_arn: str) -> dict:
    """A record of moto's GetRecords in the shape Lambda hands a function (epoch seconds, base64 binaries,
    the source ARN)."""
    record = _json_ready(record)
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):  # _json_ready leaves datetimes alone
        dynamodb["ApproximateCreationDateTime"] = created.timestamp()
    record["dynamodb"] = dynamodb
    record["eventSourceARN"] = stream_arn
    return record


class LocalEvents:
    def __init__(self, worker, properties: dict, dynamodb, streams, events_client, sqs, table: str, bus: str, quiet):
        self.worker, self.properties = worker, properties
        self.dynamodb, self.streams, self.events_client, self.sqs = dynamodb, streams, events_client, sqs
        self.table, self.bus, self.quiet = table, bus, quiet
        self.patterns = [json.loads(f["Pattern"]) for f in properties.get("FilterCriteria", {}).get("Filters", [])]
        self.batch_size = int(properties.get("BatchSize", 100))
        self.events: list[dict] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._iterators: dict[str, str] = {}

    def start(self) -> LocalEvents:
        if self.bus != "default":
            self.events_client.create_event_bus(Name=self.bus)
        self.queue_url = self.sqs.create_queue(QueueName=EVENTS_QUEUE)["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        self.events_client.put_rule(
            Name=EVENTS_RULE, EventBusName=self.bus, EventPattern=json.dumps({"source": ["wxlogin"]})
        )
        self.events_client.put_targets(
            Rule=EVENTS_RULE,
            EventBusName=self.bus,
            Targets=[{"Id": "local", "Arn": queue_arn["Attributes"]["QueueArn"]}],
        )
        self.stream_arn = self.dynamodb.describe_table(TableName=self.table)["Table"]["LatestStreamArn"]
        self._thread = threading.Thread(target=self._run, name="stream", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.worker.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._deliver(self._read_stream())
                self._drain_events()
            except Exception as exc:  # noqa: BLE001 - the stack stopping under it; the next round tries again
                if not self._stop.is_set():
                    LOG.warning("local stream: %s", type(exc).__name__)
            self._stop.wait(POLL_SECONDS)

    def _read_stream(self) -> list[dict]:
        records = []
        shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id not in self._iterators:
                self._iterators[shard_id] = self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            response = self.streams.get_records(ShardIterator=self._iterators[shard_id])
            self._iterators[shard_id] = response.get("NextShardIterator") or self._iterators[shard_id]
            records.extend(lambda_record(record, self.stream_arn) for record in response.get("Records", []))
        return [record for record in records if not self.patterns or any(matches(p, record) for p in self.patterns)]

    def _deliver(self, records: list[dict]) -> None:
        for start in range(0, len(records), self.batch_size):
            batch = records[start : start + self.batch_size]
            for _ in range(LOCAL_RETRIES + 1):
                result = self.worker.invoke({"Records": batch}, {"function_name": self.worker.logical_id})
                if result is not None:
                    failed = {f.get("itemIdentifier") for f in result.get("batchItemFailures") or []}
                    if not failed:
                        break
                    # As Lambda does: again from the first failed record.
                    first = min(i for i, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] in failed)
                    batch = batch[first:]
                time.sleep(POLL_SECONDS)
            else:
                LOG.error("local stream: %d records undelivered (on AWS: the failure queue)", len(batch))

    def _drain_events(self) -> None:
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return
            for message in messages:
                event = json.loads(message["Body"])
                self.events.append(event)
                if not self.quiet:
                    detail = json.dumps(event.get("detail"), ensure_ascii=False, separators=(",", ":"))
                    print(f"event {event.get('detail-type')} {detail}", file=sys.stderr, flush=True)
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


def start_local_events(stack, refs: dict) -> LocalEvents | None:
    """The stream function's worker and the event viewer for a started stack (None: no stream function)."""
    from local.stack import LOCAL_AWS, LOCAL_TABLE, Worker, resolve_environment

    found = stream_consumer(stack.template)
    if found is None:
        return None
    logical_id, properties = found
    resource = stack.template["Resources"][logical_id]["Properties"]
    environment = {
        **resolve_environment(stack.template, logical_id, refs, stack.overrides),
        **LOCAL_AWS,
        "AWS_ENDPOINT_URL": stack.moto_url,
        "AWS_LAMBDA_FUNCTION_NAME": logical_id,
        "POWERTOOLS_LOG_LEVEL": stack.overrides.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
    }
    timeout = float(resource.get("Timeout", stack.template.get("Globals", {}).get("Function", {}).get("Timeout", 3)))
    handler = resource.get("Handler", stack.template.get("Globals", {}).get("Function", {}).get("Handler"))
    worker = Worker(logical_id, resource["CodeUri"], handler, environment, timeout)
    local = LocalEvents(
        worker,
        properties,
        stack.aws_client("dynamodb"),
        stack.aws_client("dynamodbstreams"),
        stack.aws_client("events"),
        stack.aws_client("sqs"),
        LOCAL_TABLE,
        environment.get("EVENT_BUS_NAME", "default"),
        stack.quiet,
    )
    return local.start()
