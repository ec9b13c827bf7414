"""The input: check that a file is a whole raw disk, and fingerprint its content sparsely.

Reading and probing are IO; the partition-table reasoning is a pure function of bytes.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from release import runner
from release.errors import InvalidInput, ToolError
from release.formats import argv

SECTOR = 512
_BLOCK = 64 * 1024  # zero-detection granularity of the content fingerprint
_CHUNK = 1 << 20
_ZERO = bytes(_BLOCK)


@dataclass(frozen=True)
class RawDisk:
    path: Path
    size: int


def inspect(path: Path) -> RawDisk:
    """The raw disk at `path`, or InvalidInput saying why it is not one."""
    if not path.exists():
        raise InvalidInput(f"{path}: no such file (give the raw disk image to convert)")
    if not path.is_file():
        raise InvalidInput(f"{path}: not a regular file (give the raw disk image to convert)")
    size = path.stat().st_size
    if size == 0 or size % SECTOR:
        raise InvalidInput(
            f"{path}: {size} bytes is not a whole number of 512-byte sectors:"
            " a truncated or non-disk file (rebuild or re-download it)"
        )
    _check_probe(path)
    try:
        with path.open("rb") as f:
            head = f.read(2 * SECTOR)
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read it: {exc.strerror}") from exc
    problems = partition_problems(head, size)
    if problems:
        raise InvalidInput(
            f"{path}: {'; '.join(problems)}: the disk looks truncated (rebuild or re-download it)"
        )
    return RawDisk(path, size)


def _check_probe(path: Path) -> None:
    try:
        info = json.loads(runner.run(argv.qemu_info(path)).text)
    except ToolError as exc:
        raise InvalidInput(f"{path}: qemu-img cannot read it: {exc.stderr.strip()}") from exc
    fmt = info.get("format")
    if fmt != "raw":
        raise InvalidInput(
            f"{path}: this is a {fmt} image, not a raw disk"
            f" (make a raw disk first: qemu-img convert -f {fmt} -O raw {path} disk.raw)"
        )


def partition_problems(head: bytes, size: int) -> list[str]:
    """What in an MBR (and GPT header) at the start of a disk points past its `size` bytes.

    A disk without a partition table (a bare filesystem) has nothing to check.
    """
    if len(head) < SECTOR or head[510:512] != b"\x55\xaa":
        return []
    sectors = size // SECTOR
    problems = []
    for index in range(4):
        entry = head[446 + 16 * index : 446 + 16 * (index + 1)]
        kind = entry[4]
        start, count = struct.unpack_from("<II", entry, 8)
        if kind == 0 or count == 0:
            continue
        if kind == 0xEE:
            problems += _gpt_problems(head[SECTOR : 2 * SECTOR], sectors)
        elif start + count > sectors:
            problems.append(
                f"partition {index + 1} ends at sector {start + count}, past the disk's"
                f" {sectors} sectors"
            )
    return problems


def _gpt_problems(header: bytes, sectors: int) -> list[str]:
    if len(header) < 92 or header[:8] != b"EFI PART":
        return []
    backup_lba, _first, last_usable = struct.unpack_from("<QQQ", header, 32)
    if backup_lba >= sectors:
        return [f"the GPT backup header is at sector {backup_lba}, past the disk's {sectors}"]
    if last_usable >= sectors:
        return [f"the GPT's last usable sector {last_usable} is past the disk's {sectors}"]
    return []


def content_digest(path: Path) -> bytes:
    """A SHA-256 of the disk's content that reads only its data extents.

    Zero blocks are skipped whether they are holes or written zeros, so two files with the
    same content give the same digest however they are allocated. Used to derive the ids
    qemu-img would otherwise make random (VHD UUID, VMDK CID).
    """
    digest = hashlib.sha256()
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        digest.update(struct.pack("<Q", size))
        for start, end in _data_extents(f.fileno(), size):
            f.seek(start)
            offset = start
            while offset < end:
                chunk = f.read(min(_CHUNK, end - offset))
                if not chunk:
                    break
                for i in range(0, len(chunk), _BLOCK):
                    block = chunk[i : i + _BLOCK]
                    if block != _ZERO[: len(block)]:
                        digest.update(struct.pack("<Q", offset + i))
                        digest.update(block)
                offset += len(chunk)
    return digest.digest()


def _data_extents(fd: int, size: int) -> Iterator[tuple[int, int]]:
    """(start, end) of the data regions, aligned to the zero-detection block."""
    offset = 0
    while offset < size:
        try:
            start = os.lseek(fd, offset, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # no data after offset
                return
            if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP):  # no SEEK_DATA: read it all
                yield offset, size
                return
            raise
        end = os.lseek(fd, start, os.SEEK_HOLE)
        start -= start % _BLOCK
        start = max(start, offset)
        end = min(size, end + (-end % _BLOCK))
        yield start, end
        offset = end
