"""The bytes side of the openstack-glance registry: reading the disk once while digesting it,
and asking a mirror whether it serves the disk (for web-download)."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from release.publish.retry import Transient

CHUNK = 1 << 20


class HashingReader:
    """The file in 1 MiB chunks for requests to send, digesting what it sends (one pass)."""

    def __init__(self, path: Path, size: int, algos: tuple[str, ...]) -> None:
        self.path, self.size = path, size
        self.hashes = {a: hashlib.new(a) for a in algos}
        self.sent = 0

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[bytes]:
        """Each chunk is digested by a helper thread while the previous one is on its way
        (hashlib lets go of the GIL), so hashing adds next to nothing to the upload."""
        with self.path.open("rb") as f, ThreadPoolExecutor(1) as pool:
            pending: Future[None] | None = None
            while chunk := f.read(CHUNK):
                if pending is not None:
                    pending.result()
                pending = pool.submit(self._digest, chunk)
                yield chunk
            if pending is not None:
                pending.result()

    def _digest(self, chunk: bytes) -> None:
        for h in self.hashes.values():
            h.update(chunk)
        self.sent += len(chunk)

    def digests(self) -> dict[str, str]:
        return {a: h.hexdigest() for a, h in self.hashes.items()} if self.sent == self.size else {}


def on_mirror(uri: str, size: int) -> bool:
    """Whether the mirror serves the disk (HEAD, its size): registries go before a channel's
    mirrors, so on a first publish the channel's own mirror does not have it yet."""
    request = urllib.request.Request(uri, method="HEAD")  # noqa: S310 - a configured mirror
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
            return int(response.headers.get("Content-Length", -1)) == size
    except urllib.error.HTTPError as exc:
        if exc.code in (408, 429) or exc.code >= 500:
            raise Transient(f"HEAD {uri}: HTTP {exc.code}") from exc
        return False
    except (OSError, ValueError) as exc:
        raise Transient(f"HEAD {uri}: {exc}") from exc


def file_digest(path: Path, algo: str) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, algo).hexdigest()
