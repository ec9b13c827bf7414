"""The fault proxy itself, against a stdlib HTTP server: each fault does what it says."""

from __future__ import annotations

import http.client
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.faultproxy import Fault, FaultProxy

BODY = b"x" * 100_000


class _Echo(BaseHTTPRequestHandler):
    def do_PUT(self) -> None:
        data = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with FaultProxy(("127.0.0.1", server.server_address[1])) as p:
            yield p
    finally:
        server.shutdown()
        server.server_close()


def _put(proxy: FaultProxy, path: str = "/a") -> tuple[int, bytes]:
    port = int(proxy.url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("PUT", path, body=BODY)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_passes_through_and_counts(proxy: FaultProxy) -> None:
    assert _put(proxy) == (200, BODY)
    assert proxy.bytes_up() == len(BODY)
    assert proxy.lines() == ["PUT /a HTTP/1.1"]


def test_answers_a_burst_of_503s_itself(proxy: FaultProxy) -> None:
    proxy.add(Fault("503", match="/a", count=2))
    assert _put(proxy)[0] == 503
    assert _put(proxy)[0] == 503
    assert _put(proxy) == (200, BODY)
    assert proxy.bytes_up() == len(BODY)  # the 503'd bodies never reached the server


def test_skip_lets_the_first_matches_pass_to_the_next_fault(proxy: FaultProxy) -> None:
    proxy.add(Fault("503", match="/a", skip=2))
    proxy.add(Fault("429", match="/a"))
    assert [_put(proxy)[0] for _ in range(4)] == [429, 200, 503, 200]
    assert [r.fault for r in proxy.requests] == ["429", None, "503", None]


def test_resets_mid_body(proxy: FaultProxy) -> None:
    proxy.add(Fault("reset", after_bytes=50_000))
    with pytest.raises(OSError):
        _put(proxy)
    assert proxy.bytes_up() < 50_000


def test_truncates_a_response_body(proxy: FaultProxy) -> None:
    proxy.add(Fault("truncate", after_bytes=10))
    with pytest.raises(http.client.IncompleteRead):
        _put(proxy)


def test_a_stopped_proxy_refuses_connections() -> None:
    # Regression: close() alone left the listener accepting (and faulting) after stop().
    with FaultProxy(("127.0.0.1", 9)) as stopped:
        port = int(stopped.url.rsplit(":", 1)[1])
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0


# -- raw mode: a byte stream, faults per connection ---------------------------------------


class _StreamEcho(socketserver.BaseRequestHandler):
    """Reads until the client shuts its side, then sends everything back."""

    def handle(self) -> None:
        data = b""
        while chunk := self.request.recv(65536):
            data += chunk
        self.request.sendall(data)


@pytest.fixture
def raw() -> Iterator[FaultProxy]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _StreamEcho)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with FaultProxy(("127.0.0.1", server.server_address[1]), raw=True) as p:
            yield p
    finally:
        server.shutdown()
        server.server_close()


def _exchange(proxy: FaultProxy) -> bytes:
    port = int(proxy.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(BODY)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


def _cut(proxy: FaultProxy) -> bytes:
    """What came back over a connection the proxy cut (an error counts as nothing)."""
    try:
        return _exchange(proxy)
    except OSError:
        return b""


def test_raw_passes_a_stream_through_and_counts_connections(raw: FaultProxy) -> None:
    assert _exchange(raw) == BODY
    assert _exchange(raw) == BODY
    assert raw.lines() == ["connection 1", "connection 2"]
    assert raw.bytes_up() == 2 * len(BODY)


def test_raw_resets_the_first_connection_that_reaches_the_offset(raw: FaultProxy) -> None:
    raw.add(Fault("reset", after_bytes=len(BODY) - 10))
    assert _cut(raw) == b""
    assert raw.bytes_up() < len(BODY)
    assert _exchange(raw) == BODY  # one reset, then a clean relay
    assert [r.fault for r in raw.requests] == ["reset", None]


def test_raw_truncates_the_stream_back_with_a_clean_close(raw: FaultProxy) -> None:
    raw.add(Fault("truncate", after_bytes=1000))
    assert _exchange(raw) == BODY[:1000]


def test_raw_refuses_and_stalls(raw: FaultProxy) -> None:
    raw.add(Fault("refuse", count=2))
    assert _cut(raw) == b""  # closed before anything was relayed
    assert _cut(raw) == b""
    raw.add(Fault("stall", after_bytes=1, seconds=0.5))
    started = time.monotonic()
    assert _exchange(raw) == BODY
    assert time.monotonic() - started >= 0.5
    assert raw.bytes_up() == len(BODY)  # the refused connections sent nothing upstream
