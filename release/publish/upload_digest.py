"""SHA-256 of local files and of upload parts, and their base64 forms for S3 headers, as the
publish adapters need them.

Whole files go through release.integrity.digests, the one streaming digest reader."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from release.integrity.digests import digest_file

_CHUNK = 1 << 20  # large reads: hashlib runs at ~1.5 GB/s here, small reads would dominate


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, in constant memory."""
    return digest_file(path, ("sha256",)).hexdigests["sha256"]


def sha256_range(fd: int, offset: int, length: int) -> bytes:
    """Raw SHA-256 of `length` bytes at `offset` of an open file (for one upload part)."""
    digest = hashlib.sha256()
    done = 0
    while done < length:
        chunk = os.pread(fd, min(_CHUNK, length - done), offset + done)
        if not chunk:
            raise OSError(f"file shrank while reading it (at byte {offset + done})")
        digest.update(chunk)
        done += len(chunk)
    return digest.digest()


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hex_to_b64(hexdigest: str) -> str:
    return b64(bytes.fromhex(hexdigest))
