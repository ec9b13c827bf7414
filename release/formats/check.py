"""Verification with qemu-img: every disk-bearing output must hold exactly the raw disk."""

from __future__ import annotations

from pathlib import Path

from release import runner
from release.errors import VerificationError
from release.formats import argv


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
    result = runner.run(argv.qemu_compare(raw, image, fmt), check=False)
    if result.returncode == 1:
        raise VerificationError(f"{label}: its content differs from the raw disk {raw}")
    if result.returncode != 0:
        raise VerificationError(
            f"{label}: qemu-img compare could not read it: {result.stderr.strip()}"
        )
