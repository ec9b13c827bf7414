"""Verification with qemu-img: every disk-bearing output must hold exactly the raw disk."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from release import runner
from release.errors import VerificationError
from release.formats import argv
from release.formats.options import MIB, round_up


def image_ok(image: str, fmt: str | None, label: str) -> None:
    """`qemu-img check` (consistency of the format's own metadata)."""
    result = runner.run(argv.qemu_check(image, fmt), check=False)
    if result.returncode != 0:
        raise VerificationError(
            f"{label}: qemu-img check found problems (exit {result.returncode}):"
            f" {result.stderr.strip() or result.text.strip()}"
        )


def same_disk(raw: Path, image: str, fmt: str | None, label: str) -> None:
    """`qemu-img compare` against the raw disk (exit 1 = differs, 2 = could not read)."""
    _verdict(runner.run(argv.qemu_compare(raw, image, fmt), check=False), raw, label)


def ranges(size: int, parts: int) -> list[tuple[int, int]]:
    """(offset, length) of at most `parts` MiB-aligned ranges covering `size` bytes."""
    step = round_up(-(-size // max(1, parts)), MIB)
    return [(offset, min(step, size - offset)) for offset in range(0, size, step)]


def same_disk_in_parts(raw: Path, size: int, image: argv.Node, parts: int, label: str) -> None:
    """`same_disk` for a compressed image, one qemu-img per range: decompressing is what
    makes the comparison slow, and it is single-threaded in qemu-img."""
    spans = ranges(size, parts)
    with ThreadPoolExecutor(len(spans), "compare") as pool:
        results = list(
            pool.map(
                lambda span: runner.run(argv.qemu_compare_windows(raw, image, *span), check=False),
                spans,
            )
        )
    for result in results:
        _verdict(result, raw, label)


def _verdict(result: runner.Result, raw: Path, label: str) -> None:
    if result.returncode == 1:
        raise VerificationError(f"{label}: its content differs from the raw disk {raw}")
    if result.returncode != 0:
        raise VerificationError(
            f"{label}: qemu-img compare could not read it: {result.stderr.strip()}"
        )
