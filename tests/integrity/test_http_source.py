"""`release verify` over http(s): a real HTTP server on 127.0.0.1 that records requests."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from release.errors import InvalidInput
from release.integrity.keysource import load_key_source
from release.integrity.sources import open_source
from release.integrity.verify import verify_release
from tests.integrity.conftest import IMAGE, VERSION

QCOW2 = f"{IMAGE}-{VERSION}-openstack.qcow2"


@dataclass
class Served:
    root: Path
    ranges: bool = True  # honour Range headers (most static servers do)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=dict)  # bytes the client accepted, by path
    cut_after: int | None = None  # drop the connection after this many body bytes
    url: str = ""


def _handler(served: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            wanted = self.headers.get("Range")
            served.requests.append((self.path, wanted))
            path = served.root / self.path.lstrip("/")
            if not path.is_file():
                self.send_error(404)
                return
            data = path.read_bytes()
            match = re.fullmatch(r"bytes=(\d+)-(\d+)", wanted or "")
            if served.ranges and match:
                start, end = int(match.group(1)), min(int(match.group(2)), len(data) - 1)
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
                data = data[start : end + 1]
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if served.cut_after is not None and len(data) > served.cut_after:
                data = data[: served.cut_after]  # the length promised above is never delivered
                self.close_connection = True
            # The client may stop reading: what it should do on a bad size.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                for start in range(0, len(data), 1 << 16):
                    self.wfile.write(data[start : start + (1 << 16)])
                    served.sent[self.path] = served.sent.get(self.path, 0) + (
                        len(data[start : start + (1 << 16)])
                    )

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def served(release_dir: Path) -> Iterator[Served]:
    state = Served(release_dir.parent.parent)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/{IMAGE}/{VERSION}/"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_verify_over_http(served: Served, keys_dir: Path) -> None:
    result = verify_release(served.url, load_key_source(keys_dir))
    assert result.failures() == [] and result.ok
    artifact_requests = [r for p, r in served.requests if p.endswith(QCOW2)]
    assert artifact_requests == ["bytes=0-299999"]  # exactly the signed size, once


@pytest.mark.parametrize("ranges", [True, False])
def test_longer_file_is_refused_unread(
    served: Served, keys_dir: Path, release_dir: Path, ranges: bool
) -> None:
    served.ranges = ranges
    with (release_dir / QCOW2).open("ab") as out:
        out.write(b"\0" * (64 << 20))
    result = verify_release(served.url, load_key_source(keys_dir))
    size = 300_000 + (64 << 20)
    assert f"{QCOW2}: size {size} bytes, signed size 300000 (longer than signed)" in (
        result.failures()
    )
    # Refused from the headers: at most what socket buffers swallow was ever sent.
    assert served.sent.get(f"/{IMAGE}/{VERSION}/{QCOW2}", 0) < 16 << 20


def test_truncated_over_http(served: Served, keys_dir: Path, release_dir: Path) -> None:
    (release_dir / QCOW2).write_bytes(b"short")
    result = verify_release(served.url, load_key_source(keys_dir))
    assert f"{QCOW2}: size 5 bytes, signed size 300000 (truncated)" in (result.failures())


def test_tampered_and_missing_over_http(served: Served, keys_dir: Path, release_dir: Path) -> None:
    data = bytearray((release_dir / QCOW2).read_bytes())
    data[-1] ^= 1
    (release_dir / QCOW2).write_bytes(bytes(data))
    (release_dir / f"{IMAGE}-{VERSION}-gce.tar.gz").unlink()
    failures = verify_release(served.url, load_key_source(keys_dir)).failures()
    assert any(f.startswith(f"{QCOW2}: md5 mismatch") for f in failures)
    assert f"{IMAGE}-{VERSION}-gce.tar.gz: missing" in failures


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"cannot read ftp:// releases \(supported: http"):
        open_source("ftp://example.org/r/")


def test_connection_dropped_mid_download(served: Served, keys_dir: Path) -> None:
    served.cut_after = 100_000  # metadata files are smaller: only artifacts are cut
    failures = verify_release(served.url, load_key_source(keys_dir)).failures()
    assert [f for f in failures if f.startswith(f"{QCOW2}: ")] == [
        f"{QCOW2}: size 100000 bytes, signed size 300000 (truncated)"
    ]
