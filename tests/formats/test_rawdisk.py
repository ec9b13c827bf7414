from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from release.errors import InvalidInput
from release.formats import rawdisk

from .conftest import MIB, MakeDisk


def test_inspect_accepts_a_raw_disk(small_disk: Path) -> None:
    disk = rawdisk.inspect(small_disk)
    assert disk.size == 48 * MIB + 512


def test_inspect_accepts_a_bare_filesystem_without_partition_table(disk_maker: MakeDisk) -> None:
    path = disk_maker(partition=False, data=[(MIB, 4096)])
    assert rawdisk.inspect(path).size == 48 * MIB + 512


def test_rejects_a_qcow2_passed_as_raw(small_disk: Path, tmp_path: Path) -> None:
    qcow2 = tmp_path / "disguised.raw"
    subprocess.run(
        ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(small_disk), str(qcow2)],
        check=True,
    )
    with pytest.raises(InvalidInput, match=r"qcow2 image, not a raw disk.*qemu-img convert"):
        rawdisk.inspect(qcow2)


def test_rejects_a_file_cut_mid_sector(small_disk: Path) -> None:
    with small_disk.open("r+b") as f:
        f.truncate(10 * MIB + 100)
    with pytest.raises(InvalidInput, match="512-byte sectors"):
        rawdisk.inspect(small_disk)


def test_rejects_a_disk_truncated_before_its_partition_ends(small_disk: Path) -> None:
    with small_disk.open("r+b") as f:
        f.truncate(16 * MIB)
    with pytest.raises(InvalidInput, match=r"partition 1 ends at sector .* truncated"):
        rawdisk.inspect(small_disk)


def test_rejects_a_truncated_gpt_disk(tmp_path: Path) -> None:
    path = tmp_path / "gpt.raw"
    with path.open("wb") as f:
        f.truncate(8 * MIB)
    subprocess.run(
        ["sfdisk", "-q", str(path)], input=b"label: gpt\n,\n", check=True, capture_output=True
    )
    assert rawdisk.inspect(path).size == 8 * MIB
    with path.open("r+b") as f:
        f.truncate(4 * MIB)
    with pytest.raises(InvalidInput, match="GPT backup header"):
        rawdisk.inspect(path)


@pytest.mark.parametrize("kind", ["missing", "directory", "empty"])
def test_rejects_what_is_not_a_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "x.raw"
    if kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.touch()
    with pytest.raises(InvalidInput, match=str(path)):
        rawdisk.inspect(path)


def test_partition_problems_pure() -> None:
    mbr = bytearray(1024)
    mbr[510:512] = b"\x55\xaa"
    mbr[446 + 4] = 0x83
    struct.pack_into("<II", mbr, 446 + 8, 2048, 4096)
    assert rawdisk.partition_problems(bytes(mbr), (2048 + 4096) * 512) == []
    (problem,) = rawdisk.partition_problems(bytes(mbr), (2048 + 4095) * 512)
    assert "partition 1" in problem
    mbr[510] = 0
    assert rawdisk.partition_problems(bytes(mbr), 512) == []  # no table: nothing to check


def test_digest_depends_on_content_not_allocation(disk_maker: MakeDisk, tmp_path: Path) -> None:
    sparse = disk_maker("a.raw")
    dense = tmp_path / "b.raw"
    subprocess.run(["cp", "--sparse=never", str(sparse), str(dense)], check=True)
    assert dense.stat().st_blocks > 2 * sparse.stat().st_blocks  # zeros really written
    assert rawdisk.content_digest(sparse) == rawdisk.content_digest(dense)
    with dense.open("r+b") as f:
        f.seek(30 * MIB)
        f.write(b"\x01")
    assert rawdisk.content_digest(sparse) != rawdisk.content_digest(dense)


def test_digest_depends_on_size(disk_maker: MakeDisk) -> None:
    a = disk_maker("a.raw", size=8 * MIB, data=[(MIB, 512)])
    b = disk_maker("b.raw", size=9 * MIB, data=[(MIB, 512)])
    assert rawdisk.content_digest(a) != rawdisk.content_digest(b)
