"""The fault proxy itself, against a stdlib HTTP server: each fault does what it says."""

from __future__ import annotations

import http.client
import threading
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


def test_resets_mid_body(proxy: FaultProxy) -> None:
    proxy.add(Fault("reset", after_bytes=50_000))
    with pytest.raises(OSError):
        _put(proxy)
    assert proxy.bytes_up() < 50_000


def test_truncates_a_response_body(proxy: FaultProxy) -> None:
    proxy.add(Fault("truncate", after_bytes=10))
    with pytest.raises(http.client.IncompleteRead):
        _put(proxy)
