"""The HTTP server the guest installer reads its kickstart (and a local install tree) from.

It listens on 127.0.0.1 only, for the install only; QEMU's user-mode network forwards the
guest's connections to 10.0.2.2 (the "host" address of slirp) to the host's loopback, so the
guest reaches it at `http://10.0.2.2:PORT/`. It serves `/ks.cfg` and, when given, the files
of a local install tree under `/tree/` (regular files inside the tree only: no links out,
no traversal). Every request path is recorded.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

GUEST_HOST = "10.0.2.2"  # the host, as QEMU's user-mode network shows it to the guest


class KickstartServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, kickstart: bytes, tree: Path | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.kickstart = kickstart
        self.tree = tree.resolve() if tree else None
        self.requests: list[str] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def guest_url(self, path: str) -> str:
        return f"http://{GUEST_HOST}:{self.port}/{path}"

    def lookup(self, path: str) -> Path | None:
        """The tree file a request names, or None (outside the tree, a link, not a file)."""
        if self.tree is None or not path.startswith("/tree/"):
            return None
        wanted = (self.tree / unquote(path.removeprefix("/tree/"))).resolve()
        if not wanted.is_relative_to(self.tree) or not wanted.is_file():
            return None
        rel = wanted.relative_to(self.tree)
        parts = [self.tree.joinpath(*rel.parts[: i + 1]) for i in range(len(rel.parts))]
        return None if any(p.is_symlink() for p in parts) else wanted


class _Handler(BaseHTTPRequestHandler):
    server: KickstartServer

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        self.server.requests.append(path)
        if path == "/ks.cfg":
            self._send(self.server.kickstart)
            return
        found = self.server.lookup(path)
        if found is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(found.stat().st_size))
        self.end_headers()
        with found.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                self.wfile.write(chunk)

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # recorded in server.requests; the console log says the rest


@contextlib.contextmanager
def serving(kickstart: bytes, tree: Path | None = None) -> Iterator[KickstartServer]:
    server = KickstartServer(kickstart, tree)
    thread = threading.Thread(target=server.serve_forever, name="ks-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
