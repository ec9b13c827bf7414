"""The streamOptimized VMDK's embedded descriptor: make its CID reproducible.

qemu-img writes a random content id (`CID=` and up to 8 hex digits, unpadded); we derive
it from the disk's content. The descriptor is NUL-padded to a fixed number of sectors, so
the new text is rewritten in place, padded to the same length.
"""

from __future__ import annotations

import hashlib
import re
import struct
from pathlib import Path

SECTOR = 512
MAGIC = b"KDMV"
_CID = re.compile(rb"^CID=[0-9a-f]{1,8}$", re.MULTILINE)


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
    """The descriptor area with its CID replaced, NUL-padded to the same length."""
    text = descriptor.split(b"\x00", 1)[0]
    new, count = _CID.subn(b"CID=" + cid, text, count=1)
    if count != 1:
        raise ValueError("the VMDK descriptor has no CID line")
    if len(new) > len(descriptor):
        raise ValueError("the VMDK descriptor area is too small for the new CID")
    return new.ljust(len(descriptor), b"\x00")


def make_reproducible(path: Path, content_digest: bytes) -> None:
    with path.open("r+b") as f:
        offset, length = descriptor_span(f.read(SECTOR))
        f.seek(offset)
        descriptor = f.read(length)
        f.seek(offset)
        f.write(with_cid(descriptor, derived_cid(content_digest)))
