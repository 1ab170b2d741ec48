"""The local gateway's HTTP front end over real sockets, as clients (and attackers) write requests: chunked
bodies, lengths that lie, repeated headers, heads over API Gateway's quota, kept-alive connections."""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest

from local.http_front import HEAD_LIMIT_BYTES, STALL_SECONDS, Answer, FrontEnd, Request


class Front:
    """A front end on a free port whose route echoes the body's length and records each request."""

    def __init__(self):
        self.requests: list[Request] = []
        self.server = FrontEnd(("127.0.0.1", 0), self.respond)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def respond(self, request: Request) -> Answer:
        self.requests.append(request)
        return Answer(200, {"content-type": "text/plain"}, f"got {len(request.body or b'')}")

    def send(self, data: bytes, half_close: bool = False, timeout: float = 10) -> tuple[bytes, float]:
        """Everything the server answers until it closes the connection, and how long that took."""
        with socket.create_connection(self.server.server_address) as client:
            client.sendall(data)
            if half_close:
                client.shutdown(socket.SHUT_WR)
            client.settimeout(timeout)
            started, received = time.monotonic(), b""
            while chunk := client.recv(65536):
                received += chunk
            return received, time.monotonic() - started


@pytest.fixture
def front():
    running = Front()
    yield running
    running.server.shutdown()
    running.server.server_close()


CLOSE = b"Connection: close\r\n"


def _statuses(answer: bytes) -> list[int]:
    return [int(status) for status in re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)]


def test_a_chunked_body_is_read_whole(front):
    answer, _ = front.send(
        b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n" + CLOSE + b"\r\n"
        b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"
    )
    assert _statuses(answer) == [200] and answer.endswith(b"got 12")
    assert front.requests[0].body == b"hello, world"


def test_a_body_shorter_than_its_length_is_answered_400_as_soon_as_the_client_stops(front):
    answer, elapsed = front.send(b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 50\r\n\r\n{}", half_close=True)
    assert _statuses(answer) == [400] and answer.endswith(b'{"message":"Bad Request"}')
    assert elapsed < 1 and front.requests == []


def test_a_body_shorter_than_its_length_does_not_hold_the_connection(front):
    answer, elapsed = front.send(b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 50\r\n\r\n{}")
    assert _statuses(answer) == [400] and b"connection: close" in answer
    assert elapsed < STALL_SECONDS + 1.5 and front.requests == []


def test_bytes_beyond_the_length_are_a_malformed_next_request(front):
    answer, _ = front.send(b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}garbage\r\n\r\n")
    assert _statuses(answer) == [200, 400]
    assert [request.body for request in front.requests] == [b"{}"]


def test_two_lengths_or_a_length_and_chunks_are_refused(front):
    for framing in (
        b"Content-Length: 2\r\nContent-Length: 3\r\n",
        b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n",
    ):
        answer, _ = front.send(b"POST /x HTTP/1.1\r\nHost: h\r\n" + framing + b"\r\n{}")
        assert _statuses(answer) == [400]
    assert front.requests == []


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        b"Transfer-Encoding: chunked\r\nContent-Length: 0\r\n",
    ],
)
def test_a_length_and_well_formed_chunks_together_are_refused_not_read_as_chunks(front, framing):
    """Smuggling's framing (RFC 9112 6.3: "ought to be handled as an error"): a front end that reads the chunks
    and one behind it that reads the length disagree on where the next request starts. Refused whole, even
    when the chunks themselves are well formed."""
    answer, _ = front.send(b"POST /x HTTP/1.1\r\nHost: h\r\n" + framing + b"\r\n0\r\n\r\n")
    assert _statuses(answer) == [400]
    assert front.requests == []


def test_repeated_headers_reach_the_gateway_in_order(front):
    front.send(
        b"GET /x HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n" + CLOSE + b"\r\n"
    )
    headers = front.requests[0].headers
    assert [value for name, value in headers if name == "authorization"] == ["Bearer a", "Bearer b"]


def _head_of_size(size: int) -> bytes:
    """A GET whose request line and header values together are `size` bytes, as the quota counts them."""
    line = b"GET /x HTTP/1.1"
    filler = size - len(line) - len(b"h") - len(b"close")
    return line + b"\r\nHost: h\r\nConnection: close\r\nX-Filler: " + b"a" * filler + b"\r\n\r\n"


def test_request_line_and_header_values_may_hold_the_quota_and_not_a_byte_more(front):
    assert _statuses(front.send(_head_of_size(HEAD_LIMIT_BYTES))[0]) == [200]
    answer, _ = front.send(_head_of_size(HEAD_LIMIT_BYTES + 1))
    assert _statuses(answer) == [431] and answer.endswith(b'{"message":"Request Header Fields Too Large"}')
    assert len(front.requests) == 1


def test_a_body_over_the_payload_quota_is_refused_before_it_is_sent(front):
    answer, elapsed = front.send(b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 10485761\r\n\r\n")
    assert _statuses(answer) == [413] and elapsed < 2 and front.requests == []


def test_a_kept_alive_connection_serves_request_after_request(front):
    one = b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
    answer, _ = front.send(one + one + b"GET /x HTTP/1.1\r\nHost: h\r\n" + CLOSE + b"\r\n")
    assert _statuses(answer) == [200, 200, 200]
    assert [request.body for request in front.requests] == [b"abc", b"abc", None]


def test_a_client_expecting_100_continue_gets_it_then_its_answer(front):
    with socket.create_connection(front.server.server_address) as client:
        client.sendall(
            b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\n" + CLOSE + b"\r\n"
        )
        client.settimeout(5)
        assert client.recv(1024).startswith(b"HTTP/1.1 100 ")
        client.sendall(b"{}")
        assert client.recv(1024).startswith(b"HTTP/1.1 200 ")
