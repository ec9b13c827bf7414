"""The streamOptimized VMDK's embedded descriptor: make its CID reproducible.

qemu-img writes a random content id (`CID=xxxxxxxx`); we derive it from the disk's content.
The new value has the same length, so the descriptor is rewritten in place.
"""

from __future__ import annotations

import hashlib
import re
import struct
from pathlib import Path

SECTOR = 512
MAGIC = b"KDMV"
_CID = re.compile(rb"^CID=([0-9a-f]{8})$", re.MULTILINE)


def derived_cid(content_digest: bytes) -> bytes:
    value = hashlib.sha256(b"vmdk-cid" + content_digest).hexdigest()[:8]
    # ffffffff means "no parent" to VMware: never use it as a content id.
    return b"fffffffe" if value == "ffffffff" else value.encode()


def descriptor_span(header: bytes) -> tuple[int, int]:
    """(offset, length) in bytes of the embedded descriptor, from the sparse extent header."""
    if header[:4] != MAGIC:
        raise ValueError("not a sparse VMDK (the 'KDMV' magic is missing)")
    offset, size = struct.unpack_from("<QQ", header, 28)
    return offset * SECTOR, size * SECTOR


def with_cid(descriptor: bytes, cid: bytes) -> bytes:
    new, count = _CID.subn(b"CID=" + cid, descriptor, count=1)
    if count != 1:
        raise ValueError("the VMDK descriptor has no CID line")
    return new


def make_reproducible(path: Path, content_digest: bytes) -> None:
    with path.open("r+b") as f:
        offset, length = descriptor_span(f.read(SECTOR))
        f.seek(offset)
        descriptor = f.read(length)
        f.seek(offset)
        f.write(with_cid(descriptor, derived_cid(content_digest)))
