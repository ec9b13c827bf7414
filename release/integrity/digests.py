"""Digests of files: md5, sha1 and sha256 in ONE streaming read (constant memory).

Both the release writer and the verifier use this, so a file is read once whatever the
number of digests. hashlib (OpenSSL) is several times faster than coreutils' *sum here, and
one read feeding every hash beats one read per hash; threads do not help on 2 vCPUs (see
bench/digests.py for the measurements).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

ALGORITHMS: tuple[str, ...] = ("md5", "sha1", "sha256")
HEX_LENGTH: Mapping[str, int] = {"md5": 32, "sha1": 40, "sha256": 64}
CHUNK = 1 << 20  # 1 MiB reads: large enough that syscalls and Python overhead vanish


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


def digest_stream(
    stream: BinaryIO,
    algorithms: Iterable[str] = ALGORITHMS,
    *,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Digests:
    """Digest what `stream` yields (at most `limit` bytes), one buffer reused throughout."""
    hashers = list(_hashers(algorithms).items())
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    size = 0
    while limit is None or size < limit:
        want = CHUNK if limit is None else min(CHUNK, limit - size)
        count = stream.readinto(view[:want])  # type: ignore[attr-defined]
        if not count:
            break
        chunk = view[:count]
        for _, hasher in hashers:
            hasher.update(chunk)
        size += count
        if progress is not None:
            progress(count)
    return Digests(size, {algo: hasher.hexdigest() for algo, hasher in hashers})


def digest_file(
    path: Path,
    algorithms: Iterable[str] = ALGORITHMS,
    *,
    progress: Callable[[int], None] | None = None,
) -> Digests:
    with path.open("rb", buffering=0) as stream:
        return digest_stream(stream, algorithms, progress=progress)
