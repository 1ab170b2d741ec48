"""API Gateway's front end for the local gateway: HTTP/1.1 read with h11, as an HTTP API reads it.

h11 (https://h11.readthedocs.io) parses and frames the messages; this module adds API Gateway's limits:

- the body is read whole before the route sees it, framed by Content-Length or `Transfer-Encoding: chunked`;
  a message framed both ways (RFC 9112 6.3: an error, smuggling's framing) or with two lengths is refused 400;
- a request whose body stops short of its Content-Length is answered 400 `{"message":"Bad Request"}` as soon
  as the client half-closes, or after STALL_SECONDS without a byte, and the connection is closed, so no such
  request holds the gateway; bytes beyond a Content-Length start the next request, which is malformed: 400;
- the request line and the header values together may hold HEAD_LIMIT_BYTES (the HTTP API quota "Total combined
  size of request line and header values", 10240 bytes); more is answered 431 and the connection closed;
- a body over MAX_BODY_BYTES (the quota "Payload size", 10 MB) is answered 413 without reading it;
- headers reach the gateway in order with repeats kept: it joins them as payload format 2.0 does.
https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html
"""

from __future__ import annotations

import json
import socket
import socketserver
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus

import h11

HEAD_LIMIT_BYTES = 10_240
MAX_BODY_BYTES = 10 * 1024 * 1024
# What h11 buffers of an unfinished head before refusing it: far above the quota, which is checked on the parsed
# head (values only, as the quota counts them), and small enough that no client can make the gateway hoard memory.
READ_BUFFER_BYTES = 64 * 1024
STALL_SECONDS = 2.0  # a request that stops arriving mid-way is answered instead of waited for
IDLE_SECONDS = 60.0  # a kept-alive connection with no request in flight
LINGER_SECONDS = 1.0
NO_BODY_STATUSES = (204, 304)


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    headers: list[tuple[str, str]]  # names lower-cased, in arrival order, repeats kept
    body: bytes | None
    source_ip: str


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: str = ""
    cookies: list[str] = field(default_factory=list)  # each one a set-cookie header


def gateway_answer(status: int, message: str) -> Answer:
    """An answer of API Gateway's own, e.g. 404 `{"message":"Not Found"}`."""
    return Answer(status, {"content-type": "application/json"}, json.dumps({"message": message}, separators=(",", ":")))


class _Refused(Exception):
    """The front end answers this itself, then closes the connection."""

    def __init__(self, answer: Answer):
        super().__init__(answer.status)
        self.answer = answer


class FrontEnd(socketserver.ThreadingTCPServer):
    """Accepts connections on `address` and hands each complete request to `respond`, a thread per connection."""

    allow_reuse_address = True  # as http.server binds: a port left in TIME_WAIT by the last run is free
    daemon_threads = True

    def __init__(self, address: tuple[str, int], respond: Callable[[Request], Answer]):
        self.respond = respond
        super().__init__(address, _Connection)


class _Connection(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        connection = h11.Connection(h11.SERVER, max_incomplete_event_size=READ_BUFFER_BYTES)
        while True:
            try:
                request = self._read_request(connection)
            except _Refused as refused:
                self._send(connection, refused.answer, head_only=False, close=True)
                return
            except h11.RemoteProtocolError as error:
                status = 431 if error.error_status_hint == 431 else 400
                self._send(connection, gateway_answer(status, HTTPStatus(status).phrase), head_only=False, close=True)
                return
            except OSError:  # the client went away, or stalled before its request began
                return
            if request is None:
                return
            answer = self.server.respond(request)
            if not self._send(connection, answer, head_only=request.method == "HEAD", close=False):
                return
            if connection.our_state is not h11.DONE or connection.their_state is not h11.DONE:
                return
            connection.start_next_cycle()

    def _next_event(self, connection: h11.Connection):
        while True:
            event = connection.next_event()
            if event is not h11.NEED_DATA:
                return event
            between_requests = connection.their_state is h11.IDLE and not connection.trailing_data[0]
            self.request.settimeout(IDLE_SECONDS if between_requests else STALL_SECONDS)
            try:
                data = self.request.recv(65536)
            except TimeoutError:
                if between_requests:
                    raise
                raise _Refused(gateway_answer(400, "Bad Request")) from None
            connection.receive_data(data)

    def _read_request(self, connection: h11.Connection) -> Request | None:
        head = self._next_event(connection)
        if isinstance(head, h11.ConnectionClosed):
            return None
        request_line = len(head.method) + len(head.target) + len(b"HTTP/1.1") + 2
        if request_line + sum(len(value) for _, value in head.headers) > HEAD_LIMIT_BYTES:
            raise _Refused(gateway_answer(431, "Request Header Fields Too Large"))
        names = {name for name, _ in head.headers}
        if {b"content-length", b"transfer-encoding"} <= names:
            # h11 lets the chunks win (RFC 9112 6.3), which also says such a message "ought to be handled as an
            # error": a proxy that reads the length instead would start the next request elsewhere (smuggling).
            raise _Refused(gateway_answer(400, "Bad Request"))
        declared = next((int(value) for name, value in head.headers if name == b"content-length"), 0)
        if declared > MAX_BODY_BYTES:
            raise _Refused(gateway_answer(413, "Request Entity Too Large"))
        if connection.they_are_waiting_for_100_continue:
            self.request.sendall(connection.send(h11.InformationalResponse(status_code=100, headers=[])))
        body = bytearray()
        while not isinstance(event := self._next_event(connection), h11.EndOfMessage):
            body += event.data
            if len(body) > MAX_BODY_BYTES:  # chunked: no length to refuse up front
                raise _Refused(gateway_answer(413, "Request Entity Too Large"))
        framed = declared or b"transfer-encoding" in names
        return Request(
            method=head.method.decode("ascii"),
            target=head.target.decode("latin-1"),
            headers=[(name.decode("latin-1"), value.decode("latin-1")) for name, value in head.headers],
            body=bytes(body) if framed else None,
            source_ip=self.client_address[0],
        )

    def _send(self, connection: h11.Connection, answer: Answer, head_only: bool, close: bool) -> bool:
        """Write the whole answer in one send (no Nagle/delayed-ACK pause); False when it cannot be sent."""
        if connection.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return False
        payload = b"" if answer.status in NO_BODY_STATUSES else answer.body.encode("utf-8")
        headers = [
            (name, value)
            for name, value in answer.headers.items()
            if name.lower() not in ("content-length", "connection", "transfer-encoding", "date")
        ]
        headers += [("set-cookie", cookie) for cookie in answer.cookies]
        headers.append(("date", formatdate(usegmt=True)))
        if answer.status not in NO_BODY_STATUSES:
            headers.append(("content-length", str(len(payload))))
        if close:
            headers.append(("connection", "close"))
        try:
            reason = HTTPStatus(answer.status).phrase.encode("ascii")
        except ValueError:
            reason = b""
        try:
            data = connection.send(h11.Response(status_code=answer.status, headers=headers, reason=reason))
            if payload and not head_only:
                data += connection.send(h11.Data(data=payload))
            data += connection.send(h11.EndOfMessage())
        except h11.LocalProtocolError:  # e.g. a client that broke off mid-head: there is no request to answer
            return False
        try:
            self.request.sendall(data)
        except OSError:
            return False
        if close:
            self._linger()
        return True

    def _linger(self) -> None:
        """Close our side, then read what the client still sends for a moment: closing a socket with unread
        bytes resets the connection, and the client could lose the answer (a 413 before its body, say)."""
        try:
            self.request.shutdown(socket.SHUT_WR)
            self.request.settimeout(LINGER_SECONDS)
            deadline = time.monotonic() + LINGER_SECONDS
            while time.monotonic() < deadline and self.request.recv(65536):
                pass
        except OSError:
            pass
