"""The GCE image archive: `disk.raw`, a whole number of GiB, in a sparse oldgnu tar, gzipped.

Staging links the raw disk (or pads a sparse copy of it) as `disk.raw`; `check_archive`
reads the archive back: header, single member, size, and content.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

from release import fsutil, runner
from release.errors import ReleaseError, ToolError, VerificationError
from release.formats import argv, check
from release.formats.options import GIB, round_up

MEMBER = "disk.raw"
BLOCK = 512
OLDGNU_MAGIC = b"ustar  \x00"
GNU_SPARSE = b"S"


def stage_disk(raw: Path, size: int, workdir: Path) -> Path:
    """`workdir/disk.raw`: a symlink to the raw disk if its size is whole GiB, else a padded
    sparse copy (reflinked where the filesystem can). tar follows the link (-h)."""
    disk = workdir / MEMBER
    padded = round_up(size, GIB)
    if padded == size:
        disk.symlink_to(raw.resolve())
        return disk
    fsutil.sparse_copy(raw, disk)
    os.truncate(disk, padded)
    return disk


def build(workdir: Path, out: Path, threads: int, level: int) -> None:
    with out.open("wb") as fh:
        runner.pipeline([argv.gce_tar(workdir), argv.pigz(threads, level)], stdout=fh)


@dataclass(frozen=True)
class Header:
    name: str
    typeflag: bytes
    magic: bytes
    realsize: int


def _number(field: bytes) -> int:
    """A tar number: octal text, or GNU base-256 when the high bit of the first byte is set."""
    if field and field[0] & 0x80:
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    text = field.split(b"\x00", 1)[0].strip()
    return int(text, 8) if text else 0


def parse_header(block: bytes) -> Header:
    if len(block) < BLOCK:
        raise ValueError("shorter than one tar header")
    return Header(
        name=block[:100].split(b"\x00", 1)[0].decode("utf-8", errors="replace"),
        typeflag=block[156:157],
        magic=block[257:265],
        realsize=_number(block[483:495]),  # oldgnu sparse: the member's full size
    )


def header_problems(header: Header) -> list[str]:
    problems = []
    if header.name != MEMBER:
        problems.append(f"the first member is {header.name!r}, not {MEMBER!r}")
    if header.magic != OLDGNU_MAGIC:
        problems.append("the tar is not in oldgnu format")
    if header.typeflag != GNU_SPARSE:
        problems.append(f"{MEMBER} is not stored as an oldgnu sparse member")
    elif header.realsize == 0 or header.realsize % GIB:
        problems.append(f"{MEMBER} is {header.realsize} bytes, not a whole number of GiB")
    return problems


def _extract_error(archive: Path, exc: ToolError) -> ReleaseError:
    """tar refusing a member (`..`, a link out, a cut archive) is a bad archive (exit 3), not a
    failed tool; a full disk stays an operation error, since a rerun with space will pass."""
    if "No space left on device" in exc.stderr:
        return exc
    tail = "; ".join(exc.stderr.strip().splitlines()[-3:])
    return VerificationError(f"{archive}: tar refused it: {tail}")


def check_archive(archive: Path, raw: Path, scratch: Path) -> None:
    """Prove the archive's layout, then extract it (sparsely) and compare with the raw disk."""
    try:
        with gzip.open(archive, "rb") as f:
            header = parse_header(f.read(BLOCK))
    except (OSError, EOFError, ValueError) as exc:
        raise VerificationError(f"{archive}: not a gzipped tar: {exc}") from exc
    problems = header_problems(header)
    if problems:
        raise VerificationError(f"{archive}: {'; '.join(problems)}")
    scratch.mkdir()
    listing = scratch.with_name(scratch.name + ".list")
    with listing.open("wb") as fh:
        try:
            runner.pipeline([argv.pigz_decompress(archive), argv.tar_extract(scratch)], stdout=fh)
        except ToolError as exc:
            raise _extract_error(archive, exc) from exc
    names = listing.read_text().split()
    extracted = scratch / MEMBER
    if names != [MEMBER] or sorted(p.name for p in scratch.iterdir()) != [MEMBER]:
        raise VerificationError(f"{archive}: holds {names}, expected only {MEMBER}")
    if extracted.stat().st_size != header.realsize:
        raise VerificationError(f"{archive}: {MEMBER} extracts to the wrong size")
    check.same_disk(raw, str(extracted), "raw", f"{archive} ({MEMBER})")
