"""Small sparse test disks, made with sfdisk and a few blocks of random data."""

from __future__ import annotations

import random
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

MIB = 1 << 20

MakeDisk = Callable[..., Path]


def make_disk(
    path: Path,
    size: int,
    data: Sequence[tuple[int, int]] = ((MIB, MIB), (20 * MIB, 3 * MIB)),
    seed: int = 1,
    partition: bool = True,
) -> Path:
    """A sparse `size`-byte disk: an MBR with one partition, random bytes at (offset, length)."""
    with path.open("wb") as f:
        f.truncate(size)
    if partition:
        subprocess.run(
            ["sfdisk", "-q", str(path)],
            input=b"label: dos\nstart=2048, type=83\n",
            check=True,
            capture_output=True,
        )
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    with path.open("r+b") as f:
        for offset, length in data:
            f.seek(offset)
            f.write(rng.randbytes(length))
    return path


@pytest.fixture
def disk_maker(tmp_path: Path) -> MakeDisk:
    def make(name: str = "disk.raw", size: int = 48 * MIB + 512, **kwargs: object) -> Path:
        return make_disk(tmp_path / name, size, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture
def small_disk(disk_maker: MakeDisk) -> Path:
    """48 MiB and one sector: not a whole MiB, so VHD rounding and GCE padding both happen."""
    return disk_maker()


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    return out


def qemu_img(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["qemu-img", *args], capture_output=True, text=True, check=False)
