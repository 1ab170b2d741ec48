"""What runs inside each fresh interpreter the bench spawns: import `app`, invoke it, write down what it saw.

The driver starts `python -S -P` on this file with a Lambda-like PYTHONPATH (the
function's folder, its layer or packages, the runtime's boto3) and nothing of
the bench on it; the plan comes from the file BENCH_INPUT names, the figures go
to BENCH_OUTPUT. Standard library only, apart from the botocore the runtime
provides.

- cold (BENCH_MODE=cold): import the handler, serve one request, stop. Every
  case, the floor included, goes through this same code, so the ratios
  compare only the cases' own imports and first requests.
- warm: serve every phase of the plan in one process, timing each request and
  counting its remote calls (botocore's events for AWS, http.client for WeChat),
  the DynamoDB capacity units its items cost and the bytes it writes to stdout
  and stderr (what Lambda sends to CloudWatch Logs: log lines and the metrics'
  EMF documents, at the log level the template sets).
"""

import os
import sys
import time


class Context:
    """The attributes of a Lambda context that Powertools reads."""

    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "bench")
    memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"))
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    log_group_name = "/aws/lambda/" + function_name
    log_stream_name = "bench"

    def __init__(self):
        raw = os.urandom(16).hex()
        self.aws_request_id = f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"

    def get_remaining_time_in_millis(self):
        return 15000


def invoke(handler, event):
    # The runtime sets a new trace header for every invocation; the X-Ray SDK reads it from the environment.
    os.environ["_X_AMZN_TRACE_ID"] = (
        f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()};Parent={os.urandom(8).hex()};Sampled=1"
    )
    return handler(event, Context())


def read_plan():
    import json

    with open(os.environ["BENCH_INPUT"]) as plan:
        return json.load(plan)


def write_result(result):
    import json

    with open(os.environ["BENCH_OUTPUT"], "w") as out:
        json.dump(result, out)
    os._exit(0)  # no interpreter teardown: it is not part of a request


def cold():
    import app

    t_import = time.monotonic()
    modules_at_import = len(sys.modules)
    result = invoke(app.lambda_handler, read_plan()[0]["events"][0])
    t_first, cpu = time.monotonic(), time.process_time()
    write_result(
        {
            "t_import": t_import,
            "t_first": t_first,
            "cpu": cpu,
            "status": result["statusCode"],
            "modules_at_import": modules_at_import,
            "modules": len(sys.modules),
        }
    )


# ---------------------------------------------------------------------------------------------------------------
# Warm mode: remote calls and capacity units.
class Counter:
    """Every remote request of the current invocation: botocore's before-send for AWS (every session, so the
    one Powertools Parameters makes too), http.client's putrequest for WeChat (below any HTTP library)."""

    def __init__(self, wechat_host: str):
        self.wechat_host = wechat_host
        self.on = False
        self.calls = []  # (service, operation)
        self.dynamodb = []  # (operation, params, parsed answer)
        self.remote_wait = 0.0  # seconds from sending a request to its answer's head

    def reset(self):
        self.calls.clear()
        self.dynamodb.clear()
        self.remote_wait = 0.0
        self.on = True

    def install(self):
        import http.client

        import botocore.session

        counter = self
        session_init = botocore.session.Session.__init__

        def counting_session_init(session, *args, **kwargs):
            session_init(session, *args, **kwargs)
            session.register("before-send", counter.on_before_send)
            session.register("before-parameter-build", counter.on_params)
            session.register("after-call", counter.on_after_call)

        botocore.session.Session.__init__ = counting_session_init
        putrequest, getresponse = http.client.HTTPConnection.putrequest, http.client.HTTPConnection.getresponse

        def counting_putrequest(connection, method, url, *args, **kwargs):
            if counter.on and f"{connection.host}:{connection.port}" == counter.wechat_host:
                counter.calls.append(("wechat", url.split("?")[0]))
            connection._bench_sent = time.monotonic()
            return putrequest(connection, method, url, *args, **kwargs)

        def timed_getresponse(connection, *args, **kwargs):
            try:
                return getresponse(connection, *args, **kwargs)
            finally:
                counter.remote_wait += time.monotonic() - getattr(connection, "_bench_sent", time.monotonic())

        http.client.HTTPConnection.putrequest = counting_putrequest
        http.client.HTTPConnection.getresponse = timed_getresponse

    def on_before_send(self, request, event_name, **kwargs):
        if self.on:
            _, service, operation = event_name.split(".")[:3]
            self.calls.append((service, operation))

    def on_params(self, params, model, event_name, context, **kwargs):
        if self.on and event_name.startswith("before-parameter-build.dynamodb."):
            context["bench_params"] = params

    def on_after_call(self, http_response, parsed, model, event_name, context, **kwargs):
        if self.on and event_name.startswith("after-call.dynamodb."):
            self.dynamodb.append((model.name, context.get("bench_params") or {}, parsed))


def _value_size(kind, raw):
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        digits = raw.lstrip("-").replace(".", "").strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size(kind[0], v) for v in raw)
    if kind == "L":  # 3 bytes for the list, 1 for each element
        return 3 + sum(1 + _value_size(*next(iter(v.items()))) for v in raw)
    if kind == "M":  # 3 bytes for the map, 1 for each entry (a user item's list of sessions is one)
        return 3 + len(raw) + item_size(raw)
    return len(str(raw))


def item_size(item):
    """DynamoDB's item size: attribute names plus values (strings UTF-8, numbers ~1 byte per 2 digits + 1, a
    list or map 3 bytes and 1 per element), as
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html gives it."""
    return sum(len(name.encode()) + _value_size(*next(iter(attr.items()))) for name, attr in (item or {}).items())


def _key_of(item):
    return {name: item[name] for name in ("pk", "sk") if name in item}


class Capacity:
    """Request units of one invocation's DynamoDB calls, by DynamoDB's on-demand rules (moto reports none):
    reads 1 RRU per 4 KB strongly consistent (0.5 eventually), writes 1 WRU per 1 KB, transactions twice.
    A written item is sized as it stands afterwards (one lookup); a deleted one counts 1 WRU."""

    def __init__(self):
        self._client = None

    def _current_size(self, table, key):
        if self._client is None:
            import boto3

            self._client = boto3.client("dynamodb")
        item = self._client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        return item_size(item) if item else None

    @staticmethod
    def _read(size, consistent, transactional=False):
        units = max(1, -(-size // 4096))
        return units * (2 if transactional else 1) * (1 if consistent else 0.5)

    def units(self, log):
        import json

        rru, writes = 0.0, []
        for op, params, parsed in log:
            consistent = bool(params.get("ConsistentRead"))
            if op == "GetItem":
                rru += self._read(item_size(parsed.get("Item")), consistent)
            elif op == "BatchGetItem":
                for table, spec in params.get("RequestItems", {}).items():
                    found = {
                        json.dumps(_key_of(i), sort_keys=True): i for i in parsed.get("Responses", {}).get(table, [])
                    }
                    for key in spec.get("Keys", []):
                        item = found.get(json.dumps(key, sort_keys=True))
                        rru += self._read(item_size(item), bool(spec.get("ConsistentRead")))
            elif op == "Query":
                rru += self._read(sum(item_size(i) for i in parsed.get("Items", [])), consistent)
            elif op in ("PutItem", "UpdateItem", "DeleteItem"):
                writes.append((params["TableName"], params.get("Key") or _key_of(params["Item"]), False))
            elif op == "TransactWriteItems":
                for action in params.get("TransactItems", []):
                    ((_, spec),) = action.items()
                    writes.append((spec["TableName"], spec.get("Key") or _key_of(spec["Item"]), True))
            elif op == "BatchWriteItem":
                for table, requests_ in params.get("RequestItems", {}).items():
                    for request in requests_:
                        spec = request.get("PutRequest") or request.get("DeleteRequest")
                        writes.append((table, spec.get("Key") or _key_of(spec["Item"]), False))
        wru = 0.0
        for table, key, transactional in writes:
            size = self._current_size(table, key) or 0
            wru += max(1, -(-size // 1024)) * (2 if transactional else 1)
        return rru, wru


CAPACITY_SAMPLES = 20  # sizing written items costs lookups; a route's units are the same request after request


class CountingStream:
    """stdout or stderr as Lambda's runtime sees them: every byte written is a byte CloudWatch Logs ingests."""

    def __init__(self, stream):
        self.stream = stream
        self.written = 0

    def write(self, text):
        self.written += len(text.encode("utf-8", "replace"))
        return self.stream.write(text)

    def flush(self):
        self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)


def warm():
    counter = Counter(os.environ["WECHAT_API_BASE"].split("://", 1)[1].split("/", 1)[0])
    counter.install()
    sys.stdout, sys.stderr = CountingStream(sys.stdout), CountingStream(sys.stderr)
    import app

    def logged():
        return sys.stdout.written + sys.stderr.written

    capacity = Capacity()
    phases = []
    for phase in read_plan():
        samples = []
        for event in phase["events"]:
            counter.reset()
            logged0 = logged()
            cpu0, t0 = time.process_time(), time.monotonic()
            result = invoke(app.lambda_handler, event)
            wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
            counter.on = False
            sample = {
                "wall": wall,
                "cpu": cpu,
                "remote": counter.remote_wait,
                "status": result["statusCode"],
                "log_bytes": logged() - logged0,
            }
            for service, _ in counter.calls:
                sample[service] = sample.get(service, 0) + 1
            sample["operations"] = sorted(op for service, op in counter.calls if service == "dynamodb")
            if phase.get("count") and len(samples) < CAPACITY_SAMPLES:
                sample["rru"], sample["wru"] = capacity.units(list(counter.dynamodb))
            if phase.get("keep_body"):
                sample["body"] = result.get("body")
            samples.append(sample)
        phases.append({"name": phase["name"], "route": phase.get("route"), "samples": samples})
    # The high-water mark of this process's own memory (ru_maxrss would carry the spawning parent's).
    with open("/proc/self/status") as status:
        peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    write_result({"phases": phases, "peak_rss_kb": peak_kb})


if __name__ == "__main__":
    cold() if os.environ["BENCH_MODE"] == "cold" else warm()
