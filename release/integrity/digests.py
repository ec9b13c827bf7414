"""Digests of files: md5, sha1 and sha256 in ONE streaming read (constant memory).

Both the release writer and the verifier use this, so a file is read once whatever the
number of digests. hashlib (OpenSSL) is faster than coreutils' *sum, one read feeding every
hash beats one read per hash, and, measured here (bench/digests.py), one thread per digest
beats one thread for all: hashlib releases the GIL on large updates, md5 is the slowest and
the shas finish beside it on the second core. Memory stays constant: each worker's queue
holds a few chunks, and the chunks are shared, never copied.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

ALGORITHMS: tuple[str, ...] = ("md5", "sha1", "sha256")
HEX_LENGTH: Mapping[str, int] = {"md5": 32, "sha1": 40, "sha256": 64}
CHUNK = 1 << 20  # 1 MiB reads: large enough that syscalls and Python overhead vanish
QUEUE_DEPTH = 4  # chunks in flight per digest: enough to ride out scheduling hiccups


@dataclass(frozen=True)
class Digests:
    """The size of some bytes and their hex digests by algorithm name."""

    size: int
    hexdigests: Mapping[str, str]

    def prefixed(self) -> dict[str, str]:
        """`{"sha256": "sha256:<hex>", ...}`: the form manifests use."""
        return {algo: f"{algo}:{hexdigest}" for algo, hexdigest in self.hexdigests.items()}


def _hashers(algorithms: Iterable[str]) -> dict[str, hashlib._Hash]:
    hashers = {}
    for algo in algorithms:
        if algo not in HEX_LENGTH:
            raise ValueError(f"unsupported digest algorithm {algo!r}")
        # md5/sha1 are integrity checks against corruption here, the signatures carry trust.
        hashers[algo] = hashlib.new(algo, usedforsecurity=algo == "sha256")
    return hashers


def digest_bytes(data: bytes, algorithms: Iterable[str] = ALGORITHMS) -> Digests:
    hashers = _hashers(algorithms)
    for hasher in hashers.values():
        hasher.update(data)
    return Digests(len(data), {a: h.hexdigest() for a, h in hashers.items()})


class _Worker(threading.Thread):
    """Feeds one hasher from a short queue; None ends it."""

    def __init__(self, hasher: hashlib._Hash) -> None:
        super().__init__(name=f"digest-{hasher.name}", daemon=True)
        self.hasher = hasher
        self.chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUE_DEPTH)

    def run(self) -> None:
        while (chunk := self.chunks.get()) is not None:
            self.hasher.update(chunk)


def _chunks(stream: BinaryIO, limit: int | None) -> Iterator[bytes]:
    size = 0
    while limit is None or size < limit:
        chunk = stream.read(CHUNK if limit is None else min(CHUNK, limit - size))
        if not chunk:
            return
        size += len(chunk)
        yield chunk


def digest_stream(
    stream: BinaryIO,
    algorithms: Iterable[str] = ALGORITHMS,
    *,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Digests:
    """Digest what `stream` yields (at most `limit` bytes) in one read pass."""
    hashers = _hashers(algorithms)
    workers = [_Worker(hasher) for hasher in hashers.values()]
    for worker in workers:
        worker.start()
    size = 0
    try:
        for chunk in _chunks(stream, limit):
            for worker in workers:
                worker.chunks.put(chunk)
            size += len(chunk)
            if progress is not None:
                progress(len(chunk))
    finally:
        for worker in workers:
            worker.chunks.put(None)
        for worker in workers:
            worker.join()
    return Digests(size, {algo: hasher.hexdigest() for algo, hasher in hashers.items()})


def digest_file(
    path: Path,
    algorithms: Iterable[str] = ALGORITHMS,
    *,
    progress: Callable[[int], None] | None = None,
) -> Digests:
    with path.open("rb", buffering=0) as stream:
        return digest_stream(stream, algorithms, progress=progress)
