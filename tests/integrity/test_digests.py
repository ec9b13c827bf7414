"""One-pass digests: right values, bounded reads, no thread left behind."""

from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path
from typing import Any

import pytest

from release.integrity.digests import ALGORITHMS, digest_file, digest_stream


def test_one_pass_digests_match_hashlib(tmp_path: Path) -> None:
    data = bytes(range(256)) * 10_000  # spans several 1 MiB reads
    (tmp_path / "f").write_bytes(data)
    seen: list[int] = []
    digests = digest_file(tmp_path / "f", progress=seen.append)
    assert digests.size == len(data) == sum(seen)
    for algo in ALGORITHMS:
        assert digests.hexdigests[algo] == hashlib.new(algo, data).hexdigest()
    assert digests.prefixed()["sha256"] == "sha256:" + hashlib.sha256(data).hexdigest()


class _Failing(io.RawIOBase):
    """A stream that breaks after a few chunks, like a dropped connection."""

    def __init__(self, chunks: int) -> None:
        self.left = chunks

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.left == 0:
            raise OSError("connection reset")
        self.left -= 1
        buffer[:] = b"x" * len(buffer)
        return len(buffer)


def test_a_failing_read_stops_every_digest_thread() -> None:
    before = threading.active_count()
    with pytest.raises(OSError, match="connection reset"):
        digest_stream(io.BufferedReader(_Failing(3)))
    assert threading.active_count() == before


def test_limit_stops_reading_at_the_signed_size() -> None:
    stream = io.BytesIO(b"a" * 5000)
    digests = digest_stream(stream, ("sha256",), limit=1234)
    assert digests.size == 1234 and stream.tell() == 1234
    assert digests.hexdigests == {"sha256": hashlib.sha256(b"a" * 1234).hexdigest()}
