"""Fuzz every route of the local stack over real HTTP: schemathesis cases from openapi.yaml, each also
sent mutated, plus hand-made hostile requests.

The stack starts from a known state (alice and bob logged in; alice has a profile and a phone number).
Every answer must be in the contract's shape for its route and status, none may be a 5xx, and afterwards
the table must hold exactly what the requests that succeeded put there. Generation runs in separate
processes (it is CPU-bound and would otherwise share the GIL with the gateway and moto) while client
threads send, many at once because the gateway answers each request after a ~40 ms delayed-ACK pause
that only concurrency hides.

The seed is fixed so a failure reproduces; WXLOGIN_FUZZ_SEED picks other cases.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import random
import re
import threading
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
import requests

from local.http_front import HEAD_LIMIT_BYTES
from local.stack import DEV_APP_ID
from local.wechat_simulator import encrypt_user_data
from tests.hardening.conftest import OPENAPI_PATH
from tests.support.values import BOOKKEEPING
from wxlogin.keys.tokens import LOGIN_ID_BYTES, TokenRef, parse_token, session_id_for, user_id_for
from wxlogin.storage.users import user_pk

SEED = int(os.environ.get("WXLOGIN_FUZZ_SEED", "20261123"))
CLIENTS = 16
GENERATORS = 2
MINIMUM_REQUESTS = 10_000
# Cases schemathesis generates per operation and per mode (positive, negative); each is sent three times.
CASES = {
    "logout": 200,
    "deleteMe": 200,
    "getMe": 230,
    "patchMe": 200,
    "updateMe": 200,
    "login": 280,
    "decryptProfile": 240,
    "bindPhone": 240,
}
ME, LOGIN, DECRYPT, PHONE = "/v1/me", "/v1/auth/login", "/v1/profile/decrypt", "/v1/profile/phone"
# Routes a valid token may be fuzzed on: logout and delete would end the known state the table is checked against.
NON_DESTRUCTIVE = {("GET", ME), ("PATCH", ME), ("POST", ME), ("POST", DECRYPT), ("POST", PHONE)}
JSON = {"Content-Type": "application/json"}
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict = field(default_factory=dict)
    body: bytes | None = None
    params: dict | None = None
    origin: str = ""
    # A hand-made case says what it must get: (status, error code or None).
    expect: tuple[int, str | None] | None = None

    def describe(self) -> str:
        body = self.body if self.body is None or len(self.body) <= 300 else self.body[:300] + b"..."
        headers = {name: (value if len(value) <= 120 else value[:120] + "...") for name, value in self.headers.items()}
        return f"[{self.origin}] {self.method} {self.path} params={self.params!r:.200} headers={headers} body={body!r}"


@dataclass
class Outcome:
    request: Request
    status: int | None = None
    headers: dict = field(default_factory=dict)
    text: str = ""
    error: str | None = None
    head_bytes: int = 0  # the request line and header values as sent, what API Gateway's quota counts

    def json(self):
        return json.loads(self.text)

    def describe(self) -> str:
        answer = self.error or f"{self.status} {self.text[:300]}"
        return f"{self.request.describe()}\n    -> {answer}"


# ---------------------------------------------------------------------------------------------- generation


def generate_cases(operation_id: str, mode: str, count: int, seed: int) -> list[Request]:
    """`count` schemathesis cases for one operation, as plain requests (runs in a generator process)."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_path(OPENAPI_PATH)
    operation = next(
        result.ok()
        for result in schema.get_all_operations()
        if result.ok().definition.raw["operationId"] == operation_id
    )
    cases: list[Request] = []

    @given(case=operation.as_strategy(generation_mode=GenerationMode(mode)))
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis_seed(seed)
    def collect(case):
        kwargs = case.as_transport_kwargs(base_url="http://fuzz.invalid")
        if "json" in kwargs:
            body = json.dumps(kwargs["json"]).encode()
        elif kwargs.get("data") is not None:
            data = kwargs["data"]
            body = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
        else:
            body = None
        headers = {str(k): str(v) for k, v in kwargs["headers"].items() if k.lower() != "x-schemathesis-testcaseid"}
        cases.append(
            Request(
                operation.method.upper(),
                operation.path,
                headers,
                body,
                kwargs.get("params") or None,
                f"{operation_id}/{mode}",
            )
        )

    collect()
    return cases


@dataclass(frozen=True)
class Tokens:
    alice: str
    bob: str

    def unknown_for_alice(self, rng: random.Random) -> str:
        """Alice's userId with a secret no session has: the lookup reaches DynamoDB and finds nothing."""
        secret = base64.urlsafe_b64encode(rng.randbytes(32)).rstrip(b"=").decode()
        return f"{self.alice.split('.')[0]}.{secret}"


def _auth_variants(request: Request, tokens: Tokens, rng: random.Random) -> list[str | None]:
    hostile = [
        f"Bearer {tokens.unknown_for_alice(rng)}",
        f"Bearer {tokens.bob[:-1]}",
        f"Bearer {tokens.alice} {tokens.alice}",
        f"Bearer {'A' * rng.choice([1, 64, 10_240])}",
        f"Basic {tokens.alice}",
        None,
    ]
    if (request.method, request.path) in NON_DESTRUCTIVE:
        return [f"Bearer {tokens.alice}", f"bearer  {tokens.alice}", *hostile]
    return hostile


INSERTS = [b"\x00", b'"', b"\\", b"{", b"[", b"]", b",", b"\xff", b"\xed\xa0\x80", b"\\ud800", "码".encode(), b"\n"]


def _mutate_bytes(body: bytes, rng: random.Random) -> bytes:
    data = bytearray(body)
    for _ in range(rng.randint(1, 3)):
        position = rng.randrange(len(data) + 1)
        action = rng.randrange(5)
        if action == 0 and data:
            data[min(position, len(data) - 1)] = rng.randrange(256)
        elif action == 1:
            data[position:position] = rng.choice(INSERTS)
        elif action == 2:
            del data[position : position + rng.randint(1, 8)]
        elif action == 3:
            data[position:position] = data[position : position + rng.randint(1, 16)]
        else:
            data = data[:position]
    return bytes(data)


def variants(request: Request, tokens: Tokens, rng: random.Random) -> list[Request]:
    """The generated request, then with another Authorization, then with its body or headers mutated."""
    protected = request.path != LOGIN

    def with_auth(headers: dict, value: str | None) -> dict:
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        return headers if value is None else {**headers, "Authorization": value}

    headers = dict(request.headers)
    if protected:
        reauthed = with_auth(headers, rng.choice(_auth_variants(request, tokens, rng)))
    else:
        reauthed = {**headers, "Idempotency-Key": rng.choice(["k" * 16, "k" * 129, "key.with.dots.000", "x" * 4096])}
    second = Request(request.method, request.path, reauthed, request.body, request.params, request.origin + "+auth")
    # The body is parsed only after the token is checked: give the mutated body a token that passes where allowed.
    if protected and (request.method, request.path) in NON_DESTRUCTIVE:
        headers = with_auth(headers, f"Bearer {tokens.alice}")
    if request.body is not None:
        headers = headers if rng.random() < 0.8 else {**headers, "Content-Type": "text/plain"}
        body = _mutate_bytes(request.body, rng)
    else:
        headers, body = {**headers, **JSON}, rng.choice([b"{}", b"\x00" * 64, b'{"code": "x"}' * 100])
    third = Request(request.method, request.path, headers, body, request.params, request.origin + "+mutated")
    return [request, second, third]


# ---------------------------------------------------------------------------------------------- hostile cases

BAD = (400, "invalid_request")
UNKNOWN_CODE = (401, "invalid_code")
UNAUTHORIZED = (401, "unauthorized")
UNDECRYPTABLE = (422, "invalid_encrypted_data")
OK = (200, None)
KEY = "fuzz-key-Xq3vR8kLm2Np7sTu4wYz"
OTHER_KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
KEYED_LOGIN = "login with an Idempotency-Key and odd extra fields"
REPLAYED_LOGIN = "the same login replayed with its Idempotency-Key"


def _json(value) -> bytes:
    return json.dumps(value).encode()


def _nested_arrays(depth: int) -> bytes:
    return ('{"code":' + "[" * depth + "1" + "]" * depth + "}").encode()


@dataclass
class Known:
    """The state the fuzz starts from, and the handles hostile cases need."""

    tokens: Tokens
    alice_openid: str
    profile_data: dict  # alice's real encryptedData/iv/rawData/signature from the simulator
    valid_codes: list[str]
    keyed_code: str
    forged_code: str
    forged_data: dict


def hostile_cases(known: Known) -> list[Request]:
    alice, bob = known.tokens.alice, known.tokens.bob
    unknown = _json({"code": "no-such-code-1"})
    data = known.profile_data
    cipher, raw = data["encryptedData"], base64.b64decode(data["encryptedData"])
    cases: list[Request] = []

    def add(name, method, path, expect, headers, body=None, params=None):
        cases.append(Request(method, path, headers, body, params, f"hostile: {name}", expect))

    def login(name, expect, body, headers=JSON):
        add(name, "POST", LOGIN, expect, headers, body)

    def as_alice(name, method, path, expect, body=None, params=None, content_type="application/json"):
        headers = {"Authorization": f"Bearer {alice}", **({"Content-Type": content_type} if body is not None else {})}
        add(name, method, path, expect, headers, body, params)

    # Content types and encodings
    for content_type, expect in (
        (None, UNKNOWN_CODE),
        ("text/plain", BAD),
        ("multipart/form-data; boundary=x", BAD),
        ("application/json; charset=utf-8", UNKNOWN_CODE),
        ("APPLICATION/JSON", UNKNOWN_CODE),
        ("application/jsonp", BAD),
        ("application/json, text/plain", BAD),
    ):
        login(f"content-type {content_type}", expect, unknown, {"Content-Type": content_type} if content_type else {})
    login("form", BAD, b"code=a", {"Content-Type": "application/x-www-form-urlencoded"})
    as_alice("text/plain patch", "PATCH", ME, BAD, b'{"nickName":"x"}', content_type="text/plain")
    login("utf-16", BAD, '{"code":"abc"}'.encode("utf-16"))
    login("latin-1", BAD, '{"code":"é"}'.encode("latin-1"))
    login("utf-8 bom", BAD, b"\xef\xbb\xbf" + unknown)
    # Sizes: the functions take 32 KiB of body, not a byte more
    padded = _json({"code": "no-such-code-2", "pad": ""})
    exact = padded.replace(b'"pad": ""', b'"pad": "' + b"x" * (32 * 1024 - len(padded)) + b'"')
    login("exactly 32 KiB", UNKNOWN_CODE, exact)
    login("32 KiB + 1", BAD, exact[:-2] + b'x"}')
    login("40 KiB", BAD, _json({"code": "a", "pad": "x" * 40_000}))
    login("1 MiB", BAD, _json({"code": "a", "pad": "x" * (1 << 20)}))
    as_alice("1 MiB patch", "PATCH", ME, BAD, _json({"nickName": "x" * (1 << 20)}))
    add("1 MiB without token", "PATCH", ME, UNAUTHORIZED, JSON, _json({"nickName": "x" * (1 << 20)}))
    big = base64.b64encode(bytes(33 * 1024 // 16 * 16)).decode()
    as_alice("33 KiB ciphertext", "POST", DECRYPT, BAD, _json({"encryptedData": big, "iv": data["iv"]}))
    # Depth: deep enough that a recursive depth count would exhaust Python's stack (it once answered 500).
    login("arrays 1000 deep", BAD, _nested_arrays(1000))
    login("objects 1000 deep", BAD, ('{"a":' * 1000 + "1" + "}" * 1000).encode())
    as_alice("patch 1000 deep", "PATCH", ME, BAD, _nested_arrays(1000))
    login("22 levels", BAD, _nested_arrays(20))
    login("10000 unbalanced", BAD, b"[" * 10_000)
    # Unicode, NUL bytes, lone surrogates (escaped, the only way JSON carries them)
    login("code with NUL", BAD, _json({"code": "abc\u0000"}))
    login("code in Chinese", BAD, _json({"code": "码"}))
    # A trailing newline satisfies `...$` under re.match: the layer must use fullmatch.
    login("code with newline", BAD, _json({"code": "abc\n"}))
    login("surrogate field name", UNKNOWN_CODE, _json({"\ud800": 1, "code": "no-such-code-3"}))
    login("NUL after body", BAD, unknown + b"\x00")
    login("invalid utf-8", BAD, b'{"code":"\xff"}')
    login("duplicate key", UNKNOWN_CODE, b'{"code":"a","code":"no-such-code-4"}')
    login("NaN code", BAD, b'{"code": NaN}')
    login("infinite code", BAD, b'{"code": 1e999999}')
    login("5000-digit code", BAD, b'{"code": 1' + b"0" * 5000 + b"}")
    for name, body in (("array", b"[]"), ("string", b'"code"'), ("null", b"null"), ("empty", b""), ("blank", b"  ")):
        login(f"{name} body", BAD, body)
    for name, body, expect in (
        ("nickName with NUL", {"nickName": "\u0000x"}, BAD),
        ("nickName emoji", {"nickName": "🐼 熊猫"}, OK),
        ("nickName surrogate", {"nickName": "\ud800"}, BAD),
        # A lone surrogate cannot be stored in DynamoDB: refused, not a 500.
        ("avatarUrl surrogate", {"avatarUrl": "https://example.com/\ud800.png"}, BAD),
        ("avatarUrl space", {"avatarUrl": "https://e.com/a b"}, BAD),
        ("avatarUrl javascript", {"avatarUrl": "javascript:alert(1)"}, BAD),
        ("avatarUrl userinfo", {"avatarUrl": "https://u@evil.com/"}, BAD),
        ("empty patch", {}, BAD),
        ("extra field", {"nickName": "x", "isAdmin": True}, BAD),
        ("NUL field name", {"nickName\u0000": "x"}, BAD),
        # An error message that echoed this name could not be encoded: the answer must not repeat it.
        ("surrogate field name", {"\ud800": "x"}, BAD),
    ):
        as_alice(name, "PATCH", ME, expect, _json(body))
    as_alice("null patch", "PATCH", ME, BAD, b"null")
    # A lone surrogate in rawData cannot be UTF-8 encoded for the signature: 422, not a 500.
    as_alice(
        "rawData surrogate", "POST", DECRYPT, UNDECRYPTABLE, _json({**data, "rawData": "\ud800" + data["rawData"]})
    )
    # Authorization headers
    for name, value, expect in (
        ("none", None, UNAUTHORIZED),
        ("bare scheme", "Bearer", UNAUTHORIZED),
        ("scheme and space", "Bearer ", UNAUTHORIZED),
        ("two spaces", f"Bearer  {alice}", OK),
        ("lower-case scheme", f"bearer {alice}", OK),
        ("upper-case scheme", f"BEARER {alice}", OK),
        ("two tokens", f"Bearer {alice} {alice}", UNAUTHORIZED),
        ("comma list", f"Bearer {alice},Bearer {bob}", UNAUTHORIZED),
        # A head over API Gateway's quota (10,240 bytes of request line and values) gets its 431 (see _failures).
        ("10 KB token", "Bearer " + "A" * 10_240, UNAUTHORIZED),
        ("basic", "Basic dXNlcjpwYXNz", UNAUTHORIZED),
        ("token less a char", f"Bearer {alice[:-1]}", UNAUTHORIZED),
        ("token plus padding", f"Bearer {alice}=", UNAUTHORIZED),
        ("crossed halves", f"Bearer {alice.split('.')[0]}.{bob.split('.')[1]}", UNAUTHORIZED),
        ("non-ascii", f"Bearer {alice[:-1]}é", UNAUTHORIZED),
        ("NUL token", "Bearer \x00", UNAUTHORIZED),  # not HTTP: the gateway's 400 (see _failures)
        ("other scheme", f"Token {alice}", UNAUTHORIZED),
        ("tab", f"Bearer\t{alice}", UNAUTHORIZED),
    ):
        add(f"authorization {name}", "GET", ME, expect, {"Authorization": value} if value else {})
    unknown_session = f"Bearer {known.tokens.unknown_for_alice(random.Random(SEED))}"
    add("logout unknown session", "POST", "/v1/auth/logout", UNAUTHORIZED, {"Authorization": unknown_session})
    add("delete 10 KB token", "DELETE", ME, UNAUTHORIZED, {"Authorization": "Bearer " + "A" * 10_240})
    # Idempotency-Key
    for name, key, expect in (
        ("15 chars", "k" * 15, BAD),
        ("129 chars", "k" * 129, BAD),
        ("dots", "key.with.dots.000", BAD),
        ("10 KB", "k" * 10_240, BAD),
        ("16 chars", "k" * 16, BAD),
        ("16 distinct chars", "0123456789abcdef", BAD),
        ("128 random bits", OTHER_KEY, UNKNOWN_CODE),
        ("latin-1", "é" * 16, BAD),
    ):
        login(f"idempotency key {name}", expect, unknown, {**JSON, "Idempotency-Key": key})
    # Base64 as transport mangles it, and ciphertext that is not this session's
    flipped = bytearray(raw)
    flipped[-5] ^= 1
    for name, fields, expect in (
        ("as given", {}, OK),
        ("mime line breaks", {"encryptedData": "\n".join(cipher[i : i + 76] for i in range(0, len(cipher), 76))}, BAD),
        ("spaces", {"encryptedData": " ".join(cipher[i : i + 4] for i in range(0, len(cipher), 4))}, BAD),
        ("url-safe", {"encryptedData": cipher.translate(str.maketrans("+/", "-_"))}, BAD),
        ("plus as space", {"encryptedData": cipher.replace("+", " ")}, BAD),
        ("no padding", {"encryptedData": cipher.rstrip("=")}, BAD),
        ("padding inside", {"encryptedData": "AAAA=AAA" + cipher}, BAD),
        ("iv without padding", {"iv": data["iv"].rstrip("=")}, BAD),
        ("iv of 15 bytes", {"iv": base64.b64encode(bytes(15)).decode()}, BAD),
        ("iv of 17 bytes", {"iv": base64.b64encode(bytes(17)).decode()}, BAD),
        ("a block short", {"encryptedData": base64.b64encode(raw[:-16]).decode()}, UNDECRYPTABLE),
        ("a byte short", {"encryptedData": base64.b64encode(raw[:-1]).decode()}, BAD),
        ("another iv", {"iv": known.forged_data["iv"]}, UNDECRYPTABLE),
        ("a flipped bit", {"encryptedData": base64.b64encode(bytes(flipped)).decode()}, UNDECRYPTABLE),
        ("upper-case signature", {"signature": data["signature"].upper()}, OK),
        ("wrong signature", {"signature": "0" * 40}, UNDECRYPTABLE),
        ("rawData alone", {"signature": None}, BAD),
    ):
        body = {name: value for name, value in {**data, **fields}.items() if value is not None}
        as_alice(f"base64 {name}", "POST", DECRYPT, expect, _json(body))
    # GET /v1/me's query
    for name, include, expect in (
        ("linkedApps", "linkedApps", OK),
        ("bogus include", "bogus", BAD),
        ("repeated include", ["linkedApps", "linkedApps"], BAD),
        ("NUL include", "\x00", BAD),
    ):
        as_alice(name, "GET", ME, expect, params={"include": include})
    # Phone
    for name, body, expect in (
        ("phone unknown code", {"code": "no-such-phone-code"}, BAD),
        ("phone code and data", {"code": "x", "encryptedData": cipher, "iv": data["iv"]}, BAD),
        ("phone empty", {}, BAD),
        ("phone from profile data", {"encryptedData": cipher, "iv": data["iv"]}, UNDECRYPTABLE),
    ):
        as_alice(name, "POST", PHONE, expect, _json(body))
    # Logins that succeed: the table is expected to hold what they stored
    first, second = known.valid_codes
    odd_fields = _json({"code": known.keyed_code, "x\u0000": "🐼", "n": {"\ud800": []}})
    login(KEYED_LOGIN, OK, odd_fields, {**JSON, "Idempotency-Key": KEY})
    mixed_case = {"Content-Type": "Application/JSON; charset=UTF-8"}
    login("login with explicit appid", OK, _json({"code": first, "appid": DEV_APP_ID}), mixed_case)
    login("login without content-type", OK, _json({"code": second}), {})
    # The rawData surrogate again, at login: 422 and nothing stored.
    forged = {**known.forged_data, "code": known.forged_code, "rawData": "\ud800", "signature": "0" * 40}
    login("login with rawData surrogate", UNDECRYPTABLE, _json(forged))
    return cases


# ---------------------------------------------------------------------------------------------- sending


class Sender:
    def __init__(self, base_url: str):
        self.base_url = base_url
        self.local = threading.local()
        self.unsendable = 0

    def __call__(self, request: Request) -> Outcome | None:
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
            session.trust_env = False
        try:
            answer = session.request(
                request.method,
                self.base_url + request.path,
                headers=request.headers,
                data=request.body,
                params=request.params,
                timeout=60,
                allow_redirects=False,
            )
        except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL, UnicodeError, ValueError):
            # Not sendable over HTTP at all (a header name or value the client refuses): no request was made.
            self.unsendable += 1
            return None
        except requests.RequestException as exc:
            self.local.session = None
            return Outcome(request, error=f"{type(exc).__name__}: {exc}")
        text = answer.content.decode("utf-8", "replace")
        return Outcome(request, answer.status_code, dict(answer.headers), text, head_bytes=_head_bytes(answer.request))


def _head_bytes(sent: requests.PreparedRequest) -> int:
    """Request line plus header values, http.client's Host included, as API Gateway counts them for its quota."""
    host = urlsplit(sent.url).netloc
    values = [
        value.encode("latin-1", "replace") if isinstance(value, str) else value for value in sent.headers.values()
    ]
    line = f"{sent.method} {sent.path_url} HTTP/1.1"
    return len(line.encode("utf-8")) + len(host) + sum(len(value) for value in values)


def _key(item: dict) -> tuple[str, str]:
    return item["pk"]["S"], item["sk"]["S"]


def _seed(stack) -> tuple[Known, dict]:
    alice = stack.log_in("fuzz-alice")
    bob = stack.log_in("fuzz-bob")
    tokens = Tokens(alice["token"], bob["token"])
    bearer = {"Authorization": f"Bearer {tokens.alice}"}
    profile = stack.simulator("/_sim/user-data", {"appid": DEV_APP_ID, "openid": alice["openid"]})
    while "+" not in profile["encryptedData"] or "=" not in profile["encryptedData"]:
        profile = stack.simulator("/_sim/user-data", {"appid": DEV_APP_ID, "openid": alice["openid"]})
    seeded = requests.post(stack.api_url + DECRYPT, json=profile, headers=bearer, timeout=30)
    assert seeded.status_code == 200, seeded.text
    phone_code = stack.simulator("/_sim/phone-code", {"appid": DEV_APP_ID, "openid": alice["openid"]})["code"]
    phone = requests.post(stack.api_url + PHONE, json={"code": phone_code}, headers=bearer, timeout=30)
    assert phone.status_code == 200, phone.text
    session_key = base64.b64encode(b"fuzz-session-key").decode()
    forged_code = "fuzz-forged-code"
    stack.simulator(
        "/_sim/sessions",
        {"appid": DEV_APP_ID, "code": forged_code, "openid": "oFuzzForged", "session_key": session_key},
    )
    encrypted, iv = encrypt_user_data(
        session_key, {"openId": "oFuzzForged", "watermark": {"appid": DEV_APP_ID, "timestamp": 1}}
    )
    known = Known(
        tokens=tokens,
        alice_openid=alice["openid"],
        profile_data=profile,
        valid_codes=[stack.code("fuzz-carol"), stack.code("fuzz-dave")],
        keyed_code=stack.code("fuzz-erin"),
        forged_code=forged_code,
        forged_data={"encryptedData": encrypted, "iv": iv},
    )
    me = requests.get(stack.api_url + ME, headers=bearer, timeout=30).json()
    return known, me


@pytest.mark.timeout(400)
def test_fuzzed_and_hostile_requests_get_the_contract_and_store_only_what_succeeded(stack, contract):
    known, alice_before = _seed(stack)
    before = {_key(item): item for item in stack.items()}
    send = Sender(stack.api_url)
    outcomes: list[Outcome] = []
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(GENERATORS, mp_context=spawn) as generator, ThreadPoolExecutor(CLIENTS) as clients:
        jobs = {
            generator.submit(generate_cases, operation_id, mode, count, SEED): (operation_id, mode)
            for operation_id, count in CASES.items()
            for mode in ("positive", "negative")
        }
        # Hand-made cases first, while the generators start: their real encryptedData has a watermark to beat.
        outcomes += [o for o in clients.map(send, hostile_cases(known)) if o is not None]
        for name, key, expect in ((REPLAYED_LOGIN, KEY, OK), ("replayed with another key", OTHER_KEY, UNKNOWN_CODE)):
            retry = {**JSON, "Idempotency-Key": key}
            replay = Request("POST", LOGIN, retry, _json({"code": known.keyed_code}), None, f"hostile: {name}", expect)
            outcomes.append(send(replay))
        pending = []
        for job in as_completed(jobs):
            operation_id, mode = jobs[job]
            for index, case in enumerate(job.result()):
                rng = random.Random(f"{SEED}/{operation_id}/{mode}/{index}")
                pending += [clients.submit(send, request) for request in variants(case, known.tokens, rng)]
        outcomes += [o for o in (future.result() for future in pending) if o is not None]

    statuses = Counter((o.request.method, o.request.path, o.status) for o in outcomes)
    hostile = sum(1 for o in outcomes if o.request.expect is not None)
    summary = f"{len(outcomes)} requests ({hostile} hand-made, {send.unsendable} unsendable skipped): {dict(statuses)}"
    print(summary)
    assert len(outcomes) >= MINIMUM_REQUESTS, summary
    failures = _table_problems(stack, known, alice_before, before, outcomes) + _failures(outcomes, contract)
    # Known failures today (reported): lone surrogates in rawData and avatarUrl, and JSON ~500 levels deep,
    # answer 500; an unknown PATCH field named with a lone surrogate gets no answer (the 400 echoes the name);
    # a code with a trailing newline answers 401 invalid_code instead of 400.
    assert not failures, f"{len(failures)} failures in {summary}:\n" + "\n".join(failures[:40])


def _failures(outcomes: list[Outcome], contract) -> list[str]:
    failures = []
    for outcome in outcomes:
        request = outcome.request
        if outcome.error is not None:
            failures.append(f"no answer: {outcome.describe()}")
            continue
        if outcome.head_bytes > HEAD_LIMIT_BYTES:
            # API Gateway refuses it itself: no function, and no contract answer, for a head over its quota.
            if (outcome.status, outcome.text) != (431, '{"message":"Request Header Fields Too Large"}'):
                failures.append(f"not API Gateway's 431 for a {outcome.head_bytes}-byte head: {outcome.describe()}")
            continue
        framing = [v for n, v in request.headers.items() if n.lower() == "transfer-encoding"]
        if any(value.strip().lower() != "chunked" for value in framing):
            # A body framed in a coding the gateway cannot read (RFC 9112, 6.1): its front end refuses it, 400.
            if (outcome.status, outcome.text) != (400, '{"message":"Bad Request"}'):
                failures.append(f"not the gateway's 400 for a Transfer-Encoding it cannot read: {outcome.describe()}")
            continue
        if any(CONTROL_CHARACTER.search(value) for value in request.headers.values()):
            # Not HTTP (RFC 9110, 5.5): the gateway's front end refuses it before any route sees it.
            if (outcome.status, outcome.text) != (400, '{"message":"Bad Request"}'):
                failures.append(f"not the gateway's 400 for a control character in a header: {outcome.describe()}")
            continue
        if outcome.status >= 500:
            failures.append(f"5xx: {outcome.describe()}")
        problems = contract.problems(request.method, request.path, outcome.status, outcome.headers, outcome.text)
        if problems:
            failures.append(f"not the documented answer {problems}: {outcome.describe()}")
        elif request.expect is not None and outcome.status < 500:
            code = outcome.json()["error"]["code"] if outcome.status >= 400 else None
            if (outcome.status, code) != request.expect:
                failures.append(f"expected {request.expect}, got {(outcome.status, code)}: {outcome.describe()}")
    keyed = [
        o
        for o in outcomes
        if o.request.origin in (f"hostile: {KEYED_LOGIN}", f"hostile: {REPLAYED_LOGIN}") and o.status == 200
    ]
    if len(keyed) != 2 or len({o.json()["token"] for o in keyed}) != 1:
        failures.append("a login replayed with its Idempotency-Key did not get the same session back")
    return failures


def _table_problems(stack, known: Known, alice_before: dict, before: dict, outcomes: list[Outcome]) -> list[str]:
    """How the table differs from the seeded state plus what the requests that succeeded stored."""
    after = {_key(item): item for item in stack.items()}
    keys = stack.keys()
    expected = set(before)
    sessions: dict[str, TokenRef] = {}  # what each session a login stored must hold
    failed: set[str] = set()  # where a failed keyed login marked its code
    for outcome in outcomes:
        request = outcome.request
        if request.path != LOGIN:
            continue
        if outcome.status == 200:
            answer = outcome.json()
            ref = parse_token(answer["token"])
            expected |= {(user_pk(ref.user_id), "USER"), (f"SESSION#{ref.session_id}", "SESSION")}
            sessions[f"SESSION#{ref.session_id}"] = ref
        # A keyed login that failed after WeChat took its code (422 data that does not open, 403) marks the code
        # failed where its session would be, so that a retry is answered at once; it stays until its TTL.
        keyed = any(name.lower() == "idempotency-key" for name in request.headers)
        if keyed and outcome.status in (403, 422) and outcome.head_bytes <= HEAD_LIMIT_BYTES:
            code = json.loads(request.body)["code"]
            login_id = bytes.fromhex(keys.keyed_hash("login session", DEV_APP_ID, code))[:LOGIN_ID_BYTES]
            expected.add((f"SESSION#{session_id_for(login_id)}", "SESSION"))
            failed.add(f"SESSION#{session_id_for(login_id)}")
    # A refused decryption's checksession bookkeeping (BOOKKEEPING on its session, the app's WeChat access
    # token) is not something a request stored.
    problems = [f"unexpected item {key}" for key in sorted(set(after) - expected) if not key[0].startswith("APP#")]
    problems += [f"missing item {key}" for key in sorted(expected - set(after))]
    for pk, ref in sessions.items():
        # The hash covers the whole token, its user id included: the item is this login's session and no other.
        if after.get((pk, "SESSION"), {}).get("tokenHash", {}).get("S") != ref.token_hash:
            problems.append(f"session {pk} is not the one its login answered (another login's, or a marker)")
    for pk in failed - set(sessions):
        if {"uid", "tokenHash", "gen", "sealed"} & set(after.get((pk, "SESSION"), {})):
            problems.append(f"the failed login's marker {pk} holds a session or an answer")
    alice_key = (f"USER#{user_id_for(DEV_APP_ID, known.alice_openid)}", "USER")

    def without_bookkeeping(item: dict | None) -> dict | None:
        return None if item is None else {name: value for name, value in item.items() if name != BOOKKEEPING}

    problems += [
        f"changed item {key}"
        for key, item in before.items()
        if key != alice_key
        and not key[0].startswith("APP#")
        and without_bookkeeping(after.get(key)) != without_bookkeeping(item)
    ]
    # Alice's nickName and avatarUrl are whatever an update that answered 200 set; nothing else of hers changed.
    patched = {name: {alice_before["profile"][name]} for name in ("nickName", "avatarUrl")}
    for outcome in outcomes:
        if outcome.request.path == ME and outcome.request.method in ("PATCH", "POST") and outcome.status == 200:
            for name in patched:
                patched[name].add(outcome.json()["profile"].get(name))
    alice_now = after.get(alice_key, {})
    problems += [
        f"alice's {name} is {alice_now.get(name)}, which no update set"
        for name, allowed in patched.items()
        if alice_now.get(name, {}).get("S") not in allowed
    ]
    unchanged = {name: value for name, value in before[alice_key].items() if name not in patched}
    if {name: value for name, value in alice_now.items() if name not in patched} != unchanged:
        problems.append(f"alice's user item changed beyond nickName and avatarUrl: {alice_now}")
    return problems
