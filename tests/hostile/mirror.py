"""A mirror an attacker controls: real signed releases and channel indexes on disk, and an
HTTP server on 127.0.0.1 that serves them, or misbehaves per path.

The attacker has no signing key: everything signed here was signed by the publisher
(`keys.sign("good", ...)`); what the attacker does is serve it from the wrong place, at the
wrong time, or badly (errors, malformed headers, a trickle, endless bodies).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import shutil
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from release.channels import index as idx
from release.pipeline import Workspace
from tests.channels.kit import sealed_release
from tests.integrity.gpgkit import Keys, write_keys_dir

EL7, EL6 = "fixture-el7", "fixture-el6"
OLD, NEW, EL6_VERSION = "7.9.1", "7.9.2", "6.10.1"
CHANNEL = "fx-stable"
TTL = dt.timedelta(days=30)
TRICKLE_SECONDS = 2.0  # one byte per this many seconds


@dataclass(frozen=True)
class Mirror:
    """A mirror root with three releases and two generations of channel `CHANNEL`.

    Generation 1 points at 7.9.1 (serial 1), generation 2, the live one, at 7.9.2 (serial 2);
    `generations[n]` keeps a copy of generation n's `channels/` for replaying.
    """

    root: Path
    keys_dir: Path
    generations: dict[int, Path]

    def release(self, image: str, version: str) -> Path:
        return self.root / image / version

    def replay(self, generation: int, root: Path | None = None) -> None:
        """Serve generation `generation`'s (validly signed, older) channels/ at `root`."""
        target = (root or self.root) / "channels"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(self.generations[generation], target)


def _sign(keys: Keys, path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.with_name(path.name + ".asc").write_bytes(keys.sign("good", data))


def _publish(
    root: Path, keys: Keys, version: str, previous: tuple[idx.ChannelIndex, idx.Snapshot] | None
) -> tuple[idx.ChannelIndex, idx.Snapshot]:
    manifest = (root / EL7 / version / "manifest.json").read_bytes()
    named = idx.IndexedRelease(
        image=EL7,
        version=version,
        path=f"{EL7}/{version}",
        manifest_sha256=hashlib.sha256(manifest).hexdigest(),
    )
    now = dt.datetime.now(dt.UTC)
    index = idx.next_index(previous[0] if previous else None, named, now, TTL, channel=CHANNEL)
    data = idx.canonical(index)
    snapshot = idx.next_snapshot(previous[1] if previous else None, {CHANNEL: data}, now, TTL)
    (root / "channels").mkdir(exist_ok=True)
    _sign(keys, root / idx.INDEX_PATH.format(channel=CHANNEL), data)
    _sign(keys, root / idx.SNAPSHOT_PATH, idx.canonical(snapshot))
    return index, snapshot


def build_mirror(where: Path, keys: Keys) -> Mirror:
    work = Workspace(where / "work")
    root = where / "mirror"
    for image, version in ((EL7, OLD), (EL7, NEW), (EL6, EL6_VERSION)):
        sealed = sealed_release(work, keys, version, image=image, size=20_000)
        shutil.copytree(sealed, root / image / version)
    keys_dir = write_keys_dir(keys, where / "keys", {"good": ["fx-*"]})
    generations = {}
    published = None
    for generation, version in ((1, OLD), (2, NEW)):
        published = _publish(root, keys, version, published)
        generations[generation] = shutil.copytree(root / "channels", where / f"gen{generation}")
    return Mirror(root, keys_dir, generations)


def copy_mirror(mirror: Mirror, where: Path) -> Mirror:
    """A copy a test may break; the keys and generations are shared (read-only)."""
    return Mirror(shutil.copytree(mirror.root, where), mirror.keys_dir, mirror.generations)


# --- the HTTP side -----------------------------------------------------------------------

# What the server does for a path (relative to the root, no leading slash):
#   "404", "500"        that HTTP status
#   "oversized"         a Content-Length of 1 TiB and a body that never ends
#   "endless"           no Content-Length and a body that never ends
#   "length:VALUE"      the file with `Content-Length: VALUE` (e.g. "abc", "12abc")
#   "trickle"           the file, one byte every TRICKLE_SECONDS
#   "redirect:URL"      a 302 to URL
#   anything else / no rule: the file under the root (404 if none)


@dataclass
class Server:
    root: Path
    rules: dict[str, str] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    port: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _HTTPServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        state = self.server.state
        name = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/")
        state.requests.append(name)
        rule = state.rules.get(name, "")
        if rule in ("404", "500"):
            self.send_error(int(rule))
            return
        if rule.startswith("redirect:"):
            self.send_response(302)
            self.send_header("Location", rule.removeprefix("redirect:"))
            self.end_headers()
            return
        if rule in ("oversized", "endless"):
            self._endless(state, rule == "oversized")
            return
        path = state.root / name
        if not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        self.send_response(200)
        length = rule.removeprefix("length:") if rule.startswith("length:") else str(len(body))
        self.send_header("Content-Length", length)
        self.end_headers()
        if rule == "trickle":
            self._trickle(state, body)
        else:
            self.wfile.write(body)

    def _endless(self, state: Server, say_length: bool) -> None:
        self.send_response(200)
        if say_length:
            self.send_header("Content-Length", str(1 << 40))
        self.end_headers()
        chunk = b"x" * 65536
        with _quiet():
            for _ in range(1024):  # 64 MiB at most, and only while the client reads
                if state.stop.is_set():
                    return
                self.wfile.write(chunk)

    def _trickle(self, state: Server, body: bytes) -> None:
        with _quiet():
            for byte in body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                if state.stop.wait(TRICKLE_SECONDS):
                    return


@contextmanager
def _quiet() -> Iterator[None]:
    """The client hanging up is what a hostile server expects."""
    with suppress(BrokenPipeError, ConnectionResetError):
        yield


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    state: Server


@contextmanager
def serve(root: Path, rules: dict[str, str] | None = None) -> Iterator[Server]:
    """An HTTP server on 127.0.0.1 serving `root` under `rules`; stopped on exit."""
    httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
    state = Server(root, dict(rules or {}), port=httpd.server_address[1])
    httpd.state = state
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stop.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
