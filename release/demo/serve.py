"""`release demo --serve`: the demo's mirror over HTTP on 127.0.0.1, for a browser.

Loopback only, read only (GET and HEAD of the mirror's files), until `stop` is set (the CLI
sets it on SIGTERM or Ctrl-C); the socket is closed on every way out.
"""

from __future__ import annotations

import functools
import http.server
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from release.errors import InvalidInput, OperationError

HOST = "127.0.0.1"

log = logging.getLogger(__name__)


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


def serve(directory: Path, port: int, stop: threading.Event, ready: Callable[[str], None]) -> None:
    """Serve `directory` on 127.0.0.1:`port` (0: any free port) until `stop` is set; `ready`
    gets the base URL once the socket listens."""
    if not (directory / "index.html").is_file():
        raise InvalidInput(f"{directory}: no index.html: run `release demo` first")
    handler = functools.partial(_Handler, directory=str(directory))
    try:
        server = http.server.ThreadingHTTPServer((HOST, port), handler)
    except OSError as exc:
        raise OperationError(f"cannot listen on {HOST}:{port}: {exc.strerror}") from exc
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2})
    thread.start()
    try:
        ready(f"http://{HOST}:{server.server_address[1]}/")
        stop.wait()
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
