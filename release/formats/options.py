"""What a conversion is asked for (ConvertOptions) and what it produced (ConvertedFile).

Pure: validation of the request and the naming of outputs, no IO.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from release.errors import InvalidInput
from release.model.target import ALL_FORMATS, Format
from release.names import name_problem

Qcow2Compat = Literal["0.10", "1.1"]
Compression = Literal["xz"]

MIB = 1 << 20
GIB = 1 << 30
TIB = 1 << 40

# The largest virtual disk each format (or its consumers) can take. VHD: qemu's vpc driver
# and Azure stop at 2040 GiB. OVA: vSphere's VMDK limit is 62 TiB. The rest have no limit
# a real image reaches.
MAX_VIRTUAL_SIZE: dict[Format, int] = {"vhd": 2040 * GIB, "ova": 62 * TIB}

# Output file suffix per format; the raw disk may also come xz-compressed.
SUFFIX: dict[Format, str] = {
    "qcow2": ".qcow2",
    "raw": ".raw",
    "vhd": ".vhd",
    "ova": ".ova",
    "gce": ".tar.gz",
}
RAW_XZ_SUFFIX = ".raw.xz"


@dataclass(frozen=True)
class ConvertOptions:
    """Which formats to produce and the format-specific choices of the image definition."""

    formats: tuple[Format, ...] = ALL_FORMATS
    qcow2_compat: Qcow2Compat = "1.1"  # "0.10" for EL6-era hosts (qemu 0.12 reads only v2)
    qcow2_compress: bool = False
    raw_xz: bool = False  # also write <basename>.raw.xz for mirrors
    product: str = "image"
    version: str = "0"
    cpus: int = 1
    memory_mib: int = 1024
    ova_sha1: bool = False  # SHA1 lines in the OVA manifest too, for old vSphere
    # pigz level of the GCE archive. 1: ~2.5x less CPU than 6 for ~8% more bytes; the archive
    # is a transport to GCS (the image GCE makes from it is the same), and gzip is the
    # slowest step of the pipeline.
    gzip_level: int = 1
    jobs: int | None = None  # concurrent conversions; None = os.cpu_count()

    def __post_init__(self) -> None:
        problems = list(_problems(self))
        if problems:
            raise InvalidInput("invalid conversion options: " + "; ".join(problems))

    @property
    def workers(self) -> int:
        return self.jobs if self.jobs is not None else (os.cpu_count() or 1)


def _problems(options: ConvertOptions) -> Iterable[str]:
    if not options.formats:
        yield "formats: give at least one format"
    for fmt in options.formats:
        if fmt not in ALL_FORMATS:
            yield f"formats: unknown format {fmt!r} (choose from {', '.join(ALL_FORMATS)})"
    if len(set(options.formats)) != len(options.formats):
        yield "formats: a format is listed twice"
    if options.raw_xz and "raw" not in options.formats:
        yield "raw_xz: the xz-compressed raw disk needs the raw format"
    if options.qcow2_compat not in get_args(Qcow2Compat):
        yield f"qcow2_compat: must be '0.10' or '1.1', not {options.qcow2_compat!r}"
    if options.cpus < 1:
        yield "cpus: must be at least 1"
    if options.memory_mib < 4:
        yield "memory_mib: must be at least 4"
    if not 1 <= options.gzip_level <= 9:
        yield "gzip_level: must be 1 to 9"
    if options.jobs is not None and options.jobs < 1:
        yield "jobs: must be at least 1"
    for field in ("product", "version"):
        value = getattr(options, field)
        if not value or any(ord(c) < 32 for c in value):
            yield f"{field}: must be non-empty text without control characters"


def parse_formats(text: str) -> tuple[Format, ...]:
    """`qcow2,vhd,ova` -> ("qcow2", "vhd", "ova"); an unknown name is InvalidInput."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in ALL_FORMATS]
    if unknown or not names:
        raise InvalidInput(
            f"--formats: unknown format {', '.join(map(repr, unknown)) or '(none given)'}:"
            f" choose from {','.join(ALL_FORMATS)}"
        )
    chosen: list[Format] = []
    for fmt in ALL_FORMATS:  # canonical order, duplicates dropped
        if fmt in names:
            chosen.append(fmt)
    return tuple(chosen)


def check_basename(basename: str) -> None:
    problem = name_problem(basename)
    if problem:
        raise InvalidInput(f"basename {basename!r} {problem}")


def output_name(basename: str, fmt: Format) -> str:
    return basename + SUFFIX[fmt]


def too_large(virtual_size: int, formats: Iterable[Format]) -> list[str]:
    """One message per requested format that cannot hold a disk of `virtual_size` bytes."""
    messages = []
    for fmt in formats:
        limit = MAX_VIRTUAL_SIZE.get(fmt)
        if limit is not None and virtual_size > limit:
            messages.append(
                f"{fmt}: the disk is {virtual_size / GIB:.1f} GiB, the format holds at most"
                f" {limit // GIB} GiB"
            )
    return messages


def round_up(size: int, unit: int) -> int:
    return -(-size // unit) * unit


@dataclass(frozen=True)
class ConvertedFile:
    """One finished, checked output file of a conversion (its manifest record, with digests and
    variant, is `integrity.manifest.Artifact`)."""

    path: Path
    format: Format
    size: int
    compression: Compression | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "format": self.format,
            "size": self.size,
            "compression": self.compression,
        }
