"""The fixed VHD footer: make it reproducible and check it.

qemu-img stamps the footer with the creation time and a random UUID. We set the time to
the VHD epoch (0) and derive the UUID from the disk's content, then fix the checksum.
The footer is the last 512 bytes of a fixed VHD (there is no header copy at the start).
"""

from __future__ import annotations

import os
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path

FOOTER = 512
COOKIE = b"conectix"
DISK_TYPE_FIXED = 2
_TIMESTAMP = slice(24, 28)
_CHECKSUM = slice(64, 68)
_UUID = slice(68, 84)
# A fixed namespace so the same content always gives the same UUID.
_NAMESPACE = uuid.UUID("6d1b2c43-6a53-4a43-9f4e-2d3c1e0f7a10")


def checksum(footer: bytes) -> int:
    """One's complement of the byte sum, the checksum field itself counted as zero."""
    total = sum(footer[: _CHECKSUM.start]) + sum(footer[_CHECKSUM.stop :])
    return ~total & 0xFFFFFFFF


def fixed_footer(footer: bytes, content_digest: bytes) -> bytes:
    """The footer with timestamp 0, a content-derived UUID and a correct checksum."""
    if len(footer) != FOOTER or footer[:8] != COOKIE:
        raise ValueError("not a VHD footer")
    data = bytearray(footer)
    data[_TIMESTAMP] = bytes(4)
    data[_UUID] = uuid.uuid5(_NAMESPACE, content_digest.hex()).bytes
    data[_CHECKSUM] = struct.pack(">I", checksum(bytes(data)))
    return bytes(data)


@dataclass(frozen=True)
class Footer:
    disk_type: int
    current_size: int
    checksum_ok: bool


def parse_footer(footer: bytes) -> Footer:
    if len(footer) != FOOTER or footer[:8] != COOKIE:
        raise ValueError("no VHD footer (the 'conectix' cookie is missing)")
    (current_size,) = struct.unpack_from(">Q", footer, 48)
    (disk_type,) = struct.unpack_from(">I", footer, 60)
    (stored,) = struct.unpack_from(">I", footer, _CHECKSUM.start)
    return Footer(disk_type, current_size, stored == checksum(footer))


def make_reproducible(path: Path, content_digest: bytes) -> None:
    """Rewrite the footer of the fixed VHD at `path` in place."""
    with path.open("r+b") as f:
        f.seek(-FOOTER, os.SEEK_END)
        footer = f.read(FOOTER)
        f.seek(-FOOTER, os.SEEK_END)
        f.write(fixed_footer(footer, content_digest))


def read_footer(path: Path) -> Footer:
    with path.open("rb") as f:
        f.seek(-FOOTER, os.SEEK_END)
        return parse_footer(f.read(FOOTER))
