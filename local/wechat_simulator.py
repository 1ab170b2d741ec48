"""A local WeChat server API for tests and the local stack, with dev routes to drive it.

The WeChat routes answer as WeChat documents: JSON with HTTP 200 even for
errcode answers, single-use login codes that expire, a session_key that rotates
on every wx.login (checksession then refuses the old one), stable access tokens,
and user risk ranks a test chooses (61010 for a user not seen in two hours). The dev routes under /_sim/ play the
Mini Program's part (wx.login, getUserProfile, the getPhoneNumber button) and
inject the faults a real WeChat shows: busy, hanging, slow, dropped connections,
HTML error pages.

    python -m local.wechat_simulator --port 3001 --app wx0123456789abcdef=SECRET

The request log names method, path and status only: the AppSecret and the
login code travel in the query string, and bodies carry session keys.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import secrets
import signal
import string
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

logger = logging.getLogger("wxlogin.simulator")

DEV_APPID = "wx0123456789abcdef"
DEV_APP_SECRET = "0123456789abcdef0123456789abcdef"  # noqa: S105 - the published local-development default, no credential

TOKEN_TTL_SECONDS = 7200
# stable_token hands out a fresh token this long before the current one expires, and a
# force_refresh leaves the old token this long to live, so concurrent callers never see 40001.
TOKEN_OVERLAP_SECONDS = 300
PHONE_CODE_TTL_SECONDS = 300
# getuserriskrank knows only users who used the Mini Program lately: 61010 "用户未在近两小时访问小程序".
RISK_RANK_SEEN_SECONDS = 2 * 3600
RISK_RANKS = (0, 1, 2, 3, 4)
RISK_SCENES = (0, 1, 2)  # sign-up, marketing, UGC
DEFAULT_HANG_SECONDS = 30.0
DEFAULT_PHONE = "13800138000"
MAX_BODY_BYTES = 1 << 20
_CODE_ALPHABET = string.ascii_letters + string.digits

# What getUserProfile hands out today for a user who shares nothing: the non-ASCII
# nickname keeps the UTF-8 path (rawData, signature, ciphertext) exercised.
DEFAULT_PROFILE = {
    "nickName": "微信用户",
    "gender": 0,
    "language": "zh_CN",
    "city": "",
    "province": "",
    "country": "",
    "avatarUrl": "https://thirdwx.qlogo.cn/mmopen/vi_32/POgEwh4mIHO4nibH0KlMECNjjGxQUq24ZEaGT4poC6icRiccVGKSyXwibcPq4BWmiaIGuG1icwxaQX6grC9VemZoJ8rg/132",
}

WECHAT_ROUTES = {
    ("GET", "/sns/jscode2session"): "jscode2session",
    ("POST", "/cgi-bin/stable_token"): "stable_token",
    ("POST", "/wxa/business/getuserphonenumber"): "getuserphonenumber",
    ("GET", "/wxa/checksession"): "checksession",
    ("POST", "/wxa/getuserriskrank"): "getuserriskrank",
}

FAULT_MODES = ("hang", "slow", "drop", "http500", "garbage")

ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40013: "invalid appid",
    40029: "invalid code",
    40097: "invalid args",
    40125: "invalid appsecret",
    40129: "invalid scene",
    40163: "code been used",
    40226: "high risk user",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41008: "missing code",
    42001: "access_token expired",
    43104: "appid does not match openid",
    44002: "empty post data",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
    47001: "data format error",
    61010: "user access record expired",
    87009: "invalid signature",
}

_HTML_500 = b"<html><head><title>500 Internal Server Error</title></head><body><h1>500</h1></body></html>"
# A 200 that is not JSON, as a proxy or captive portal between the function and WeChat can answer.
_GARBAGE = "<html><body>系统繁忙，请稍后再试</body></html>".encode()


def encrypt_user_data(session_key_b64: str, payload: dict, iv: bytes | None = None) -> tuple[str, str]:
    """AES-128-CBC/PKCS7 of json.dumps(payload) with the base64 key; returns (encryptedData_b64, iv_b64).

    The JSON is compact, as WeChat's is, so the first block starts `{"openId":"`. Random iv when None.
    """
    key = _session_key_bytes(session_key_b64)
    iv = secrets.token_bytes(16) if iv is None else iv
    if len(iv) != 16:
        raise ValueError("the iv must be 16 bytes")
    plaintext = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    return base64.b64encode(ciphertext).decode(), base64.b64encode(iv).decode()


def _session_key_bytes(session_key_b64: str) -> bytes:
    # cryptography would take a 24- or 32-byte key as AES-192/256: a session_key is AES-128 only.
    key = base64.b64decode(session_key_b64, validate=True)
    if len(key) != 16:
        raise ValueError("a session_key is 16 bytes, base64-encoded")
    return key


def _b64url_id(text: str) -> str:
    """'o' and 27 characters, the shape of a real openid or unionid."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "o" + base64.urlsafe_b64encode(digest).decode()[:27]


def _request_id() -> int:
    return secrets.randbelow(10**12)


def _rid() -> str:
    return "-".join(secrets.token_hex(4) for _ in range(3))


def _errcode_answer(errcode: int) -> dict:
    return {"errcode": errcode, "errmsg": f"{ERRMSG.get(errcode, 'simulated error')}, rid: {_rid()}"}


def _phone_info(phone: str) -> dict:
    """'13800138000' is a mainland number; '+852 61234567' names its country code."""
    if phone.startswith("+"):
        country, _, number = phone[1:].partition(" ")
    else:
        country, number = "86", phone
    if not (country.isdigit() and number.isdigit() and country.isascii() and number.isascii()):
        raise _DevError(400, "phone must be digits, or '+<country code> <digits>'")
    full = number if country == "86" else f"+{country}{number}"
    return {"phoneNumber": full, "purePhoneNumber": number, "countryCode": country}


class _WeChatError(Exception):
    def __init__(self, errcode: int):
        super().__init__(errcode)
        self.errcode = errcode


class _DevError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str

    @classmethod
    def json(cls, status: int, answer: dict) -> _Reply:
        return cls(status, json.dumps(answer, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")


@dataclass
class _Code:
    appid: str
    openid: str
    session_key: str
    unionid: str | None
    issued_at: float
    # A code registered through /_sim/sessions makes its key current when exchanged; a
    # wx.login code already made its key current when it was minted.
    activates_key: bool
    used: bool = False


@dataclass(frozen=True)
class _DevRoute:
    method: str
    path: str
    handler: Callable[[dict], dict]
    body: str
    does: str


@dataclass
class _User:
    session_key: str | None = None
    unionid: str | None = None
    phone: str | None = None
    # When the user last used the Mini Program (wx.login, or a code exchanged): getuserriskrank's 61010.
    seen_at: float | None = None
    risk_rank: int = 0


@dataclass
class _Token:
    appid: str
    expires_at: float


@dataclass
class _PhoneCode:
    appid: str
    phone: str
    issued_at: float
    # The user whose button gave the code; None for a code the dev route made for nobody in particular.
    openid: str | None = None
    used: bool = False


@dataclass
class _Fault:
    remaining: int
    errcode: int
    mode: str | None
    seconds: float
    paths: frozenset[str] | None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, simulator: WeChatSimulator):
        self.simulator = simulator
        self.active: set[threading.Thread] = set()
        self.active_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request_thread(self, request, client_address):
        # Tracked so stop() can wait for the handlers it released, leaving no thread behind.
        with self.active_lock:
            self.active.add(threading.current_thread())
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.active_lock:
                self.active.discard(threading.current_thread())

    def handle_error(self, request, client_address):
        # The default prints the traceback to stderr; a client that went away is no error here.
        logger.debug("connection ended early")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "wechat-simulator"
    sys_version = ""
    timeout = 10  # a client that connects and sends nothing must not hold a thread for ever

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def log_message(self, format, *args):
        # The base class logs the request line, query string (secret, js_code) included.
        return

    def _serve(self, method: str) -> None:
        path = urlsplit(self.path).path
        simulator = self.server.simulator
        try:
            reply = simulator.handle(method, self.path, self._body())
        except _DevError as error:
            reply = _Reply.json(error.status, {"error": error.message})
        except Exception as exc:
            # The exception's text may hold request data; its type and frames do not.
            frames = "".join(traceback.format_tb(exc.__traceback__))
            logger.error("simulator bug on %s %s: %s\n%s", method, path, type(exc).__name__, frames)
            reply = _Reply.json(500, {"errcode": -1, "errmsg": "simulator error"})
        if not simulator.quiet:
            logger.info("%s %s %s", method, path, "dropped" if reply is None else reply.status)
        if reply is None:
            self.close_connection = True
            return
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting (a hang outlasting its timeout)

    def _body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise _DevError(400, "bad Content-Length") from None
        if length < 0 or length > MAX_BODY_BYTES:
            raise _DevError(413, "body too large")
        return self.rfile.read(length) if length else b""


class WeChatSimulator:
    """The WeChat server API on a loopback port; start() serves it from a daemon thread."""

    def __init__(
        self,
        apps: dict[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        quiet: bool = False,
        code_ttl_seconds: float = 300,
        clock: Callable[[], float] = time.time,
        reachable_from_network: bool = False,
    ):
        # Its dev routes hand anyone a code for any user: beyond loopback only when asked (a phone preview).
        if not ipaddress.IPv4Address(host).is_loopback and not reachable_from_network:
            raise ValueError("the simulator binds to a loopback address only")
        self.host = host
        self.port = port
        self.quiet = quiet
        self.code_ttl_seconds = code_ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._apps: dict[str, str] = dict(apps) if apps is not None else {DEV_APPID: DEV_APP_SECRET}
        self._release = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._wechat_routes: dict[str, Callable[[dict, bytes], dict]] = {
            "jscode2session": self._jscode2session,
            "stable_token": self._stable_token,
            "getuserphonenumber": self._getuserphonenumber,
            "checksession": self._checksession,
            "getuserriskrank": self._getuserriskrank,
        }
        # Each dev route with its body and what it does: GET /_sim/ lists them, docs/local-stack.md repeats them.
        self._dev_routes: dict[tuple[str, str], _DevRoute] = {
            (route.method, route.path): route
            for route in (
                _DevRoute("GET", "/_sim/", self._sim_index, "none", "this list"),
                _DevRoute(
                    "POST",
                    "/_sim/login",
                    self._sim_login,
                    '{"user", "appid"?, "unionid"?: true | "<unionid>"}',
                    "wx.login: a fresh code for the named user (same name, same openid) and a new session_key",
                ),
                _DevRoute(
                    "POST",
                    "/_sim/sessions",
                    self._sim_sessions,
                    '{"code", "openid", "session_key", "appid"?, "unionid"?}',
                    "registers a code that exchanges for exactly this openid and session_key (base64 of 16 bytes)",
                ),
                _DevRoute(
                    "POST",
                    "/_sim/user-data",
                    self._sim_user_data,
                    '{"openid", "appid"?, "kind"?: "profile" | "phone", "profile"?, "phone"?, "unionid"?, '
                    '"session_key"?, "timestamp"?, "watermark_appid"?}',
                    "encryptedData, iv (and rawData, signature for a profile) as the WeChat client hands them",
                ),
                _DevRoute(
                    "POST",
                    "/_sim/phone-code",
                    self._sim_phone_code,
                    '{"appid"?, "openid"? | "user"?, "phone"?: "13800138000" | "+852 61234567"}',
                    "the getPhoneNumber button's code of that user (`user`: as /_sim/login names them), "
                    "for getuserphonenumber",
                ),
                _DevRoute(
                    "POST",
                    "/_sim/risk-rank",
                    self._sim_risk_rank,
                    '{"openid", "appid"?, "rank"?: 0-4, "seen_seconds_ago"?: 0}',
                    "what getuserriskrank answers for this user; seen over 7200 s ago: 61010",
                ),
                _DevRoute(
                    "POST",
                    "/_sim/faults",
                    self._sim_faults,
                    '{"count"?: 1, "errcode"?: -1, "mode"?: "hang" | "slow" | "drop" | "http500" | "garbage", '
                    '"seconds"?: 30, "paths"?: ["/sns/jscode2session", ...]}',
                    "the next count WeChat calls (on those paths) answer the errcode (hang: after its seconds), "
                    "answer as WeChat would after its seconds (slow), or fail in that mode",
                ),
                _DevRoute(
                    "POST",
                    "/_sim/tokens/expire",
                    self._sim_tokens_expire,
                    '{"appid"?}',
                    "expires every access token (of that app): the next call with one gets 40001",
                ),
                _DevRoute(
                    "POST",
                    "/_sim/apps",
                    self._sim_apps,
                    '{"appid", "secret"}',
                    "adds an app or rotates its AppSecret (the old one gets 40125 at once)",
                ),
                _DevRoute("GET", "/_sim/stats", self._sim_stats, "none", "how many calls each WeChat API got"),
                _DevRoute(
                    "POST", "/_sim/reset", self._sim_reset, "none", "forgets codes, users, tokens, faults and stats"
                ),
            )
        }
        self._forget()

    def _forget(self) -> None:
        self._codes: dict[str, _Code] = {}
        self._users: dict[tuple[str, str], _User] = {}
        self._tokens: dict[str, _Token] = {}
        self._current_token: dict[str, str] = {}
        self._phone_codes: dict[str, _PhoneCode] = {}
        self._faults: list[_Fault] = []
        self._stats = dict.fromkeys(WECHAT_ROUTES.values(), 0)

    # Lifecycle

    def start(self) -> WeChatSimulator:
        if self._server is not None:
            return self
        self._release = threading.Event()
        self._server = _Server((self.host, self.port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="wechat-simulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        self._release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        deadline = time.monotonic() + 5
        with server.active_lock:
            handlers = list(server.active)
        for handler in handlers:
            handler.join(timeout=max(0.0, deadline - time.monotonic()))

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not running: call start() first")
        host, port = self._server.server_address[:2]
        # Served on every address, it is reached on this machine through loopback.
        return f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}"  # noqa: S104 - compared, not bound

    def __enter__(self) -> WeChatSimulator:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()

    # Dispatch

    def handle(self, method: str, target: str, body: bytes) -> _Reply | None:
        """The reply to one request; None means close the connection without a word."""
        split = urlsplit(target)
        path = split.path
        name = WECHAT_ROUTES.get((method, path))
        if name is not None:
            query = {key: values[0] for key, values in parse_qs(split.query, keep_blank_values=True).items()}
            return self._wechat(name, path, query, body)
        route = self._dev_routes.get((method, path))
        if route is not None:
            data = _dev_json(body)
            with self._lock:
                return _Reply.json(200, route.handler(data))
        if path.startswith("/_sim/"):
            raise _DevError(404, "no such dev route")
        return _Reply.json(404, {"errcode": -1, "errmsg": "not found"})

    def _wechat(self, name: str, path: str, query: dict, body: bytes) -> _Reply | None:
        with self._lock:
            self._stats[name] += 1
            fault = self._take_fault(name, path)
            if fault is None:
                return self._answer(name, query, body)
        # Outside the lock: a hang must not stall the other requests.
        if fault.mode == "drop":
            return None
        if fault.mode == "http500":
            return _Reply(500, _HTML_500, "text/html")
        if fault.mode == "garbage":
            return _Reply(200, _GARBAGE, "text/html; charset=utf-8")
        if fault.mode in ("hang", "slow"):
            self._release.wait(fault.seconds)
        if fault.mode == "slow":  # WeChat's own answer, late
            with self._lock:
                return self._answer(name, query, body)
        return _Reply.json(200, _errcode_answer(fault.errcode))

    def _answer(self, name: str, query: dict, body: bytes) -> _Reply:
        """What WeChat answers the call (called with the lock held)."""
        try:
            return _Reply.json(200, self._wechat_routes[name](query, body))
        except _WeChatError as error:
            return _Reply.json(200, _errcode_answer(error.errcode))

    def _take_fault(self, name: str, path: str) -> _Fault | None:
        for index, fault in enumerate(self._faults):
            if fault.paths is None or path in fault.paths or name in fault.paths:
                fault.remaining -= 1
                if fault.remaining == 0:
                    del self._faults[index]
                return fault
        return None

    # WeChat routes (called with the lock held)

    def _check_app(self, appid: object, secret: object) -> str:
        if not appid:
            raise _WeChatError(41002)
        if not isinstance(appid, str) or appid not in self._apps:
            raise _WeChatError(40013)
        if not secret:
            raise _WeChatError(41004)
        if not isinstance(secret, str) or not hmac.compare_digest(secret.encode(), self._apps[appid].encode()):
            raise _WeChatError(40125)
        return appid

    def _jscode2session(self, query: dict, _body: bytes) -> dict:
        appid = self._check_app(query.get("appid"), query.get("secret"))
        if query.get("grant_type") != "authorization_code":
            raise _WeChatError(40002)
        js_code = query.get("js_code")
        if not js_code:
            raise _WeChatError(41008)
        code = self._codes.get(js_code)
        if code is None or code.appid != appid or self._clock() - code.issued_at > self.code_ttl_seconds:
            raise _WeChatError(40029)
        if code.used:
            raise _WeChatError(40163)
        code.used = True
        user = self._user(appid, code.openid)
        user.seen_at = self._clock()
        if code.activates_key:
            user.session_key = code.session_key
        if code.unionid:
            user.unionid = code.unionid
        answer = {"openid": code.openid, "session_key": code.session_key}
        if code.unionid:
            answer["unionid"] = code.unionid
        return answer

    def _stable_token(self, _query: dict, body: bytes) -> dict:
        data = _wechat_json(body)
        appid = self._check_app(data.get("appid"), data.get("secret"))
        if data.get("grant_type") != "client_credential":
            raise _WeChatError(40002)
        now = self._clock()
        current = self._tokens.get(self._current_token.get(appid, ""))
        force = data.get("force_refresh") is True
        if current is not None and force:
            current.expires_at = min(current.expires_at, now + TOKEN_OVERLAP_SECONDS)
        if force or current is None or current.expires_at - now <= TOKEN_OVERLAP_SECONDS:
            token = f"{secrets.randbelow(90) + 10}_{secrets.token_urlsafe(96)}"
            self._tokens[token] = _Token(appid, now + TOKEN_TTL_SECONDS)
            self._current_token[appid] = token
        token = self._current_token[appid]
        return {"access_token": token, "expires_in": int(self._tokens[token].expires_at - now)}

    def _token_appid(self, query: dict) -> str:
        access_token = query.get("access_token")
        if not access_token:
            raise _WeChatError(41001)
        token = self._tokens.get(access_token)
        if token is None or token.expires_at <= self._clock():
            raise _WeChatError(40001)
        return token.appid

    def _getuserphonenumber(self, query: dict, body: bytes) -> dict:
        appid = self._token_appid(query)
        data = _wechat_json(body)
        code = data.get("code")
        if not code or not isinstance(code, str):
            raise _WeChatError(41008)
        phone_code = self._phone_codes.get(code)
        now = self._clock()
        if phone_code is None or phone_code.used or now - phone_code.issued_at > PHONE_CODE_TTL_SECONDS:
            raise _WeChatError(40029)
        if phone_code.appid != appid:
            raise _WeChatError(40013)
        openid = data.get("openid")
        if openid is not None and (not isinstance(openid, str) or not openid):
            raise _WeChatError(40097)
        if openid is not None and openid != phone_code.openid:
            # WeChat checks the binding when given the openid but documents no errcode for a mismatch; the code
            # is invalid for that user, so 40029, and it stays unused (docs/wechat.md, Phone numbers).
            raise _WeChatError(40029)
        phone_code.used = True
        info = _phone_info(phone_code.phone) | {"watermark": {"timestamp": int(now), "appid": appid}}
        return {"errcode": 0, "errmsg": "ok", "phone_info": info}

    def _checksession(self, query: dict, _body: bytes) -> dict:
        appid = self._token_appid(query)
        openid, signature = query.get("openid"), query.get("signature")
        if not openid or not signature or query.get("sig_method") != "hmac_sha256":
            raise _WeChatError(40097)
        user = self._users.get((appid, openid))
        if user is None or user.session_key is None:
            raise _WeChatError(87009)
        # The HMAC key is the session_key's base64 text, not its bytes: WeChat's own quirk.
        expected = hmac.new(user.session_key.encode(), b"", hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            raise _WeChatError(87009)
        return {"errcode": 0, "errmsg": "ok"}

    def _getuserriskrank(self, query: dict, body: bytes) -> dict:
        token_appid = self._token_appid(query)
        data = _wechat_json(body)
        appid, openid, scene, client_ip = (data.get(name) for name in ("appid", "openid", "scene", "client_ip"))
        if appid in (None, "") or openid in (None, "") or scene is None or client_ip in (None, ""):
            raise _WeChatError(44002)
        if not all(isinstance(value, str) for value in (appid, openid, client_ip)):
            raise _WeChatError(47001)
        if isinstance(scene, bool) or scene not in RISK_SCENES:
            raise _WeChatError(40129)
        if appid != token_appid:
            raise _WeChatError(43104)
        user = self._users.get((appid, openid))
        if user is None:
            raise _WeChatError(40003)
        if user.seen_at is None or self._clock() - user.seen_at > RISK_RANK_SEEN_SECONDS:
            raise _WeChatError(61010)
        # "unoin_id" is WeChat's own spelling of the request id.
        return {"errcode": 0, "errmsg": "getuserriskrank succ", "risk_rank": user.risk_rank, "unoin_id": _request_id()}

    # Dev routes (called with the lock held)

    def _user(self, appid: str, openid: str) -> _User:
        return self._users.setdefault((appid, openid), _User())

    def _appid(self, data: dict) -> str:
        appid = _optional_str(data, "appid")
        if appid is not None:
            return appid
        if not self._apps:
            raise _DevError(400, "appid is required: no app is configured")
        return next(iter(self._apps))

    def _sim_sessions(self, data: dict) -> dict:
        appid = self._appid(data)
        code, openid = _required_str(data, "code"), _required_str(data, "openid")
        session_key = _session_key_field(data, "session_key", required=True)
        unionid = _optional_str(data, "unionid")
        self._codes[code] = _Code(appid, openid, session_key, unionid, self._clock(), activates_key=True)
        return {"code": code}

    def _sim_login(self, data: dict) -> dict:
        appid = self._appid(data)
        name = _required_str(data, "user")
        unionid = data.get("unionid")
        openid = _b64url_id(f"{appid}\n{name}")
        user = self._user(appid, openid)
        if unionid is True:
            user.unionid = _b64url_id(f"unionid\n{name}")
        elif isinstance(unionid, str) and unionid:
            user.unionid = unionid
        elif unionid not in (None, False):
            raise _DevError(400, "unionid must be true, false, null or a string")
        user.seen_at = self._clock()
        # wx.login rotates the session_key at once: data the client encrypted earlier goes stale now.
        user.session_key = base64.b64encode(secrets.token_bytes(16)).decode()
        code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(32))
        self._codes[code] = _Code(appid, openid, user.session_key, user.unionid, self._clock(), activates_key=False)
        return {"code": code}

    def _sim_user_data(self, data: dict) -> dict:
        appid = self._appid(data)
        openid = _required_str(data, "openid")
        kind = data.get("kind", "profile")
        if kind not in ("profile", "phone"):
            raise _DevError(400, "kind must be 'profile' or 'phone'")
        user = self._users.get((appid, openid), _User())
        session_key = _session_key_field(data, "session_key", required=False) or user.session_key
        if session_key is None:
            raise _DevError(404, "this openid has no session_key: log in first or pass session_key")
        timestamp = data.get("timestamp", int(self._clock()))
        if isinstance(timestamp, bool) or not isinstance(timestamp, int):
            raise _DevError(400, "timestamp must be an integer")
        watermark = {"timestamp": timestamp, "appid": _optional_str(data, "watermark_appid") or appid}
        if kind == "phone":
            phone = _optional_str(data, "phone") or user.phone or DEFAULT_PHONE
            payload = _phone_info(phone) | {"watermark": watermark}
            encrypted, iv = encrypt_user_data(session_key, payload)
            return {"encryptedData": encrypted, "iv": iv}
        overrides = data.get("profile") or {}
        if not isinstance(overrides, dict):
            raise _DevError(400, "profile must be an object")
        info = DEFAULT_PROFILE | overrides
        payload = {"openId": openid, **info}
        unionid = _optional_str(data, "unionid") or user.unionid
        if unionid:
            payload["unionId"] = unionid
        payload["watermark"] = watermark
        encrypted, iv = encrypt_user_data(session_key, payload)
        raw_data = json.dumps(info, ensure_ascii=False, separators=(",", ":"))
        signature = hashlib.sha1((raw_data + session_key).encode("utf-8"), usedforsecurity=False).hexdigest()
        return {"encryptedData": encrypted, "iv": iv, "rawData": raw_data, "signature": signature}

    def _sim_phone_code(self, data: dict) -> dict:
        appid = self._appid(data)
        openid = _optional_str(data, "openid")
        name = _optional_str(data, "user")
        if name is not None:
            if openid is not None:
                raise _DevError(400, "give openid or user, not both")
            openid = _b64url_id(f"{appid}\n{name}")
        phone = _optional_str(data, "phone")
        if phone is not None:
            _phone_info(phone)
        user = self._user(appid, openid) if openid else _User()
        if phone is not None:
            user.phone = phone
        code = secrets.token_hex(32)
        self._phone_codes[code] = _PhoneCode(appid, phone or user.phone or DEFAULT_PHONE, self._clock(), openid)
        return {"code": code}

    def _sim_risk_rank(self, data: dict) -> dict:
        appid = self._appid(data)
        openid = _required_str(data, "openid")
        rank, seen_ago = data.get("rank"), data.get("seen_seconds_ago")
        if rank is not None and (isinstance(rank, bool) or rank not in RISK_RANKS):
            raise _DevError(400, "rank must be 0, 1, 2, 3 or 4")
        if seen_ago is not None and (
            isinstance(seen_ago, bool) or not isinstance(seen_ago, int | float) or seen_ago < 0
        ):
            raise _DevError(400, "seen_seconds_ago must be a non-negative number")
        user = self._user(appid, openid)
        if rank is not None:
            user.risk_rank = rank
        if seen_ago is not None:
            user.seen_at = self._clock() - seen_ago
        return {"openid": openid, "rank": user.risk_rank}

    def _sim_faults(self, data: dict) -> dict:
        count = data.get("count", 1)
        errcode = data.get("errcode", -1)
        mode = data.get("mode")
        seconds = data.get("seconds", DEFAULT_HANG_SECONDS)
        paths = data.get("paths")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise _DevError(400, "count must be a positive integer")
        if isinstance(errcode, bool) or not isinstance(errcode, int):
            raise _DevError(400, "errcode must be an integer")
        if mode is not None and mode not in FAULT_MODES:
            raise _DevError(400, f"mode must be one of {', '.join(FAULT_MODES)}")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise _DevError(400, "seconds must be a non-negative number")
        if paths is not None and (not isinstance(paths, list) or not all(isinstance(p, str) for p in paths)):
            raise _DevError(400, "paths must be a list of strings")
        self._faults.append(_Fault(count, errcode, mode, float(seconds), frozenset(paths) if paths else None))
        return {"queued": sum(fault.remaining for fault in self._faults)}

    def _sim_index(self, _data: dict) -> dict:
        # Dev routes run under the simulator's lock. The app it started with comes first: the one `make run` serves.
        return {
            "appids": list(self._apps),
            "routes": [
                {"method": route.method, "path": route.path, "body": route.body, "does": route.does}
                for route in self._dev_routes.values()
            ],
        }

    def _sim_stats(self, _data: dict) -> dict:
        return {"calls": dict(self._stats)}

    def _sim_reset(self, _data: dict) -> dict:
        self._forget()
        return {"reset": True}

    def _sim_apps(self, data: dict) -> dict:
        appid, secret = _required_str(data, "appid"), _required_str(data, "secret")
        self._apps[appid] = secret
        return {"appid": appid}

    def _sim_tokens_expire(self, data: dict) -> dict:
        appid = _optional_str(data, "appid")
        expired = [token for token, entry in self._tokens.items() if appid is None or entry.appid == appid]
        for token in expired:
            del self._tokens[token]
        self._current_token = {app: token for app, token in self._current_token.items() if token in self._tokens}
        return {"expired": len(expired)}


def _dev_json(body: bytes) -> dict:
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise _DevError(400, "the body must be JSON") from None
    if not isinstance(data, dict):
        raise _DevError(400, "the body must be a JSON object")
    return data


def _wechat_json(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise _WeChatError(47001) from None
    if not isinstance(data, dict):
        raise _WeChatError(47001)
    return data


def _required_str(data: dict, name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise _DevError(400, f"{name} is required (a non-empty string)")
    return value


def _optional_str(data: dict, name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _DevError(400, f"{name} must be a non-empty string")
    return value


def _session_key_field(data: dict, name: str, required: bool) -> str | None:
    value = _required_str(data, name) if required else _optional_str(data, name)
    if value is not None:
        try:
            _session_key_bytes(value)
        except ValueError:
            raise _DevError(400, f"{name} must be base64 of 16 bytes") from None
    return value


def _app_arg(text: str) -> tuple[str, str]:
    appid, sep, secret = text.partition("=")
    if not sep or not appid or not secret:
        raise argparse.ArgumentTypeError("expected APPID=SECRET")
    return appid, secret


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.wechat_simulator", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=3001, help="0 picks a free port (default 3001)")
    parser.add_argument(
        "--app",
        action="append",
        type=_app_arg,
        metavar="APPID=SECRET",
        help="an app WeChat knows (repeatable; default APP_ID/APP_SECRET from the environment, else the dev app)",
    )
    parser.add_argument("--quiet", action="store_true", help="no request log")
    args = parser.parse_args(argv)
    apps = dict(args.app or [(os.environ.get("APP_ID", DEV_APPID), os.environ.get("APP_SECRET", DEV_APP_SECRET))])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    done = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: done.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    simulator = WeChatSimulator(apps=apps, port=args.port, quiet=args.quiet).start()
    try:
        logger.info("WeChat simulator on %s for %s", simulator.base_url, ", ".join(apps))
        done.wait()
    finally:
        simulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    logger.info("WeChat simulator stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
