"""A fault-injecting HTTP/1.1 TCP proxy on 127.0.0.1, for chaos tests of publishing.

It sits between a client and a real server and, by script, resets a connection after some
bytes of a request's body, stalls a request, truncates a response, or answers a burst of
requests with an HTTP 503 (or 429, or 412) of its own, or drops the answer to a request
the server did get (a reset where the response should be: the client cannot tell whether
it landed). It parses just enough HTTP (request heads and Content-Length) to do that;
responses are relayed as raw bytes. It counts what it forwards, so tests can prove what a
client sent and did not re-send.

With `raw=True` it relays a byte stream that is not HTTP (ssh, the rsync daemon protocol):
each connection counts as one request (line `connection <n>`). A fault strikes the first
connection that reaches its offset: a reset or a stall once `after_bytes` bytes went
upstream, a truncation (a clean close) once `after_bytes` bytes came back; `refuse` closes
the next connection before relaying anything (a server that is down or turns clients away).
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Literal

FaultKind = Literal["reset", "stall", "truncate", "503", "429", "412", "refuse", "drop"]

_503 = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\n"
    b"Connection: close\r\nContent-Length: %d\r\n\r\n%s"
)
_503_BODY = b"<Error><Code>SlowDown</Code><Message>injected by faultproxy</Message></Error>"
_429 = _503.replace(b"503 Service Unavailable", b"429 Too Many Requests")
_429_BODY = b"<Error><Code>TooManyRequests</Code><Message>injected by faultproxy</Message></Error>"
# A precondition failure, for servers that do not enforce one (fake-gcs-server's resumable
# uploads): JSON, as GCS answers.
_412 = _503.replace(b"503 Service Unavailable", b"412 Precondition Failed").replace(
    b"application/xml", b"application/json"
)
_412_BODY = b'{"error": {"code": 412, "message": "conditionNotMet (injected by faultproxy)"}}'
_ANSWERS = {"503": (_503, _503_BODY), "429": (_429, _429_BODY), "412": (_412, _412_BODY)}


@dataclass
class Fault:
    """Applied to the next `count` requests whose request line contains `match`."""

    kind: FaultKind
    match: str = ""
    count: int = 1
    after_bytes: int = 0  # reset (raw: stall too): body bytes forwarded; truncate: bytes back
    seconds: float = 0.0  # stall
    skip: int = 0  # let this many matching requests pass first (to other faults, or through)


@dataclass
class Request:
    line: str
    body_sent: int = 0  # body bytes forwarded to the server
    fault: FaultKind | None = None


@dataclass
class FaultProxy:
    upstream: tuple[str, int]
    rate: float | None = None  # bytes per second forwarded upstream, None = unlimited
    raw: bool = False  # a byte stream, not HTTP: faults apply per connection
    requests: list[Request] = field(default_factory=list)
    _faults: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sockets: set[socket.socket] = field(default_factory=set)
    _listener: socket.socket | None = None
    _stopping: bool = False

    # -- control -------------------------------------------------------------------

    def start(self) -> FaultProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, daemon=True, name="faultproxy").start()
        return self

    def stop(self) -> None:
        self._stopping = True
        if self._listener is not None:
            # shutdown wakes the thread blocked in accept(); close alone leaves the port
            # listening (and serving with the old faults) until the next connection comes.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._listener is not None
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        """Drop every pending fault: from now on the proxy only relays."""
        with self._lock:
            for fault in self._faults:
                fault.count = 0

    def pending(self) -> list[Fault]:
        with self._lock:
            return [f for f in self._faults if f.count > 0]

    def bytes_up(self, match: str = "") -> int:
        with self._lock:
            return sum(r.body_sent for r in self.requests if match in r.line)

    def lines(self, match: str = "") -> list[str]:
        with self._lock:
            return [r.line for r in self.requests if match in r.line]

    # -- plumbing ------------------------------------------------------------------

    def _take(self, line: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.count > 0 and fault.match in line:
                    if fault.skip > 0:
                        fault.skip -= 1
                        continue
                    fault.count -= 1
                    return fault
        return None

    def _track(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.add(sock)
        return sock

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopping:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> _Connection | None:
        try:
            server = self._track(socket.create_connection(self.upstream, timeout=30))
        except OSError:
            client.close()
            return None
        server.settimeout(None)
        return _Connection(client, server)

    def _serve(self, client: socket.socket) -> None:
        self._track(client)
        if self.raw:
            self._serve_raw(client)
            return
        conn = self._connect(client)
        if conn is None:
            return
        threading.Thread(target=self._relay_down, args=(conn,), daemon=True).start()
        try:
            self._relay_up(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def _serve_raw(self, client: socket.socket) -> None:
        with self._lock:
            request = Request(f"connection {len(self.requests) + 1}")
            self.requests.append(request)
        if self._take_raw(request, "refuse", 0) is not None:
            client.close()
            return
        conn = self._connect(client)
        if conn is None:
            return
        down = threading.Thread(target=self._relay_raw_down, args=(conn, request), daemon=True)
        down.start()
        try:
            self._relay_raw_up(conn, request)
            # The client is done sending; let the server finish its answer before closing.
            conn.server.shutdown(socket.SHUT_WR)
            down.join(timeout=60)
        except OSError:
            pass
        finally:
            conn.close()

    def _take_raw(self, request: Request, kind: FaultKind, upto: int) -> Fault | None:
        """A pending fault of `kind` for this connection whose offset it now reaches."""
        with self._lock:
            for fault in self._faults:
                due = fault.count > 0 and fault.after_bytes <= upto
                if due and fault.kind == kind and fault.match in request.line:
                    fault.count -= 1
                    request.fault = kind
                    return fault
        return None

    def _relay_raw_up(self, conn: _Connection, request: Request) -> None:
        while chunk := conn.client.recv(65536):
            upto = request.body_sent + len(chunk)
            if self._take_raw(request, "reset", upto) is not None:
                conn.reset()
                return
            stall = self._take_raw(request, "stall", upto)
            if stall is not None:
                time.sleep(stall.seconds)
            if self.rate:
                time.sleep(len(chunk) / self.rate)
            with self._lock:
                request.body_sent += len(chunk)
            conn.server.sendall(chunk)

    def _relay_raw_down(self, conn: _Connection, request: Request) -> None:
        sent = 0
        try:
            while chunk := conn.server.recv(65536):
                cut = self._take_raw(request, "truncate", sent + len(chunk))
                if cut is not None:
                    conn.send_down(chunk[: max(0, cut.after_bytes - sent)])
                    break
                conn.send_down(chunk)
                sent += len(chunk)
        except OSError:
            pass
        conn.close()

    def _relay_up(self, conn: _Connection) -> None:
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                chunk = conn.client.recv(65536)
                if not chunk:
                    return
                buf += chunk
            head, buf = buf.split(b"\r\n\r\n", 1)
            head += b"\r\n\r\n"
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            length = _content_length(head)
            fault = self._take(line)
            request = Request(line, fault=fault.kind if fault else None)
            with self._lock:
                self.requests.append(request)
            if fault is not None and fault.kind in _ANSWERS:
                if b"100-continue" not in head.lower():
                    buf = _drain(conn.client, buf, length)
                template, body = _ANSWERS[fault.kind]
                conn.send_down(template % (len(body), body))
                conn.close()
                return
            if fault is not None and fault.kind == "stall":
                time.sleep(fault.seconds)
            if fault is not None and fault.kind == "truncate":
                conn.truncate_after = fault.after_bytes
            if fault is not None and fault.kind == "drop":
                conn.drop_response = True
            conn.server.sendall(head)
            reset_at = fault.after_bytes if fault is not None and fault.kind == "reset" else None
            buf = self._forward_body(conn, request, buf, length, reset_at)

    def _relay_raw(self, conn: _Connection, request: Request, fault: Fault | None) -> None:
        at = fault.after_bytes if fault is not None and fault.kind in ("reset", "stall") else None
        while chunk := conn.client.recv(65536):
            if at is not None and request.body_sent + len(chunk) >= at:
                assert fault is not None
                if fault.kind == "reset":
                    conn.reset()
                    return
                time.sleep(fault.seconds)
                at = None
            if self.rate:
                time.sleep(len(chunk) / self.rate)
            with self._lock:
                request.body_sent += len(chunk)
            conn.server.sendall(chunk)

    def _forward_body(
        self, conn: _Connection, request: Request, buf: bytes, length: int, reset_at: int | None
    ) -> bytes:
        remaining = length
        while remaining > 0:
            if not buf:
                buf = conn.client.recv(min(65536, remaining))
                if not buf:
                    raise OSError("client went away")
            chunk, buf = buf[: min(remaining, 65536)], buf[min(remaining, 65536) :]
            if reset_at is not None and request.body_sent + len(chunk) >= reset_at:
                conn.reset()
                raise OSError("reset injected")
            if self.rate:
                time.sleep(len(chunk) / self.rate)
            # Count before sending: once the server has the last byte it may answer, and a
            # caller that got the answer must see the whole body counted.
            with self._lock:
                request.body_sent += len(chunk)
            conn.server.sendall(chunk)
            remaining -= len(chunk)
        return buf

    def _relay_down(self, conn: _Connection) -> None:
        pending = b""  # response bytes held back while looking for the end of a head
        in_body = False
        body = 0
        try:
            while True:
                chunk = conn.server.recv(65536)
                if not chunk:
                    break
                if conn.drop_response:
                    interim, _, rest = chunk.partition(b"\r\n\r\n")
                    if interim.startswith(b"HTTP/1.1 100"):  # "go on": the body follows
                        conn.send_down(interim + b"\r\n\r\n")
                        if not rest:
                            continue
                    conn.reset()  # the final answer: the server has the whole request
                    break
                limit = conn.truncate_after
                if limit is None:
                    conn.send_down(chunk)
                    continue
                # Truncate the body, not the head: a cut head can parse as a short success.
                pending += chunk
                if not in_body:
                    if b"\r\n\r\n" not in pending:
                        continue
                    head, pending = pending.split(b"\r\n\r\n", 1)
                    conn.send_down(head + b"\r\n\r\n")
                    in_body = True
                keep = pending[: max(0, limit - body)]
                conn.send_down(keep)
                body += len(keep)
                pending = b""
                if body >= limit:
                    break
        except OSError:
            pass
        conn.close()


class _Connection:
    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client = client
        self.server = server
        self.truncate_after: int | None = None
        self.drop_response = False
        self._down = threading.Lock()

    def send_down(self, data: bytes) -> None:
        with self._down:
            self.client.sendall(data)

    def reset(self) -> None:
        """Close both sides with RST, as a dropped connection looks to the client."""
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            # shutdown wakes the relay thread blocked in recv on this socket; a bare close
            # would leave the kernel socket open (and the server waiting) until it returns.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def close(self) -> None:
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


def _content_length(head: bytes) -> int:
    match = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.IGNORECASE)
    return int(match.group(1)) if match else 0


def _drain(sock: socket.socket, buf: bytes, length: int) -> bytes:
    """Read and drop a request body the proxy answers itself."""
    while len(buf) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf[length:]
