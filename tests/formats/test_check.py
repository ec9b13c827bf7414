from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from release.errors import VerificationError
from release.formats import check

from .conftest import MakeDisk


def _qcow2(raw: Path, out: Path) -> Path:
    subprocess.run(
        ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(out)], check=True
    )
    return out


def test_same_disk_passes_and_fails(disk_maker: MakeDisk, tmp_path: Path) -> None:
    raw = disk_maker("a.raw")
    other = disk_maker("b.raw", seed=7)
    image = _qcow2(raw, tmp_path / "a.qcow2")
    check.same_disk(raw, str(image), "qcow2", "a.qcow2")
    with pytest.raises(VerificationError, match=r"b\.qcow2: its content differs"):
        check.same_disk(raw, str(_qcow2(other, tmp_path / "b.qcow2")), "qcow2", "b.qcow2")


def test_same_disk_unreadable(small_disk: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "x.qcow2"
    bogus.write_bytes(b"not a qcow2" * 100)
    with pytest.raises(VerificationError, match="could not read it"):
        check.same_disk(small_disk, str(bogus), "qcow2", "x.qcow2")


def test_image_ok_finds_a_corrupt_qcow2(small_disk: Path, tmp_path: Path) -> None:
    image = _qcow2(small_disk, tmp_path / "a.qcow2")
    check.image_ok(str(image), "qcow2", "a.qcow2")
    header = image.read_bytes()[:104]
    refcount_table = int.from_bytes(header[48:56], "big")
    with image.open("r+b") as f:  # point the first refcount block somewhere absurd
        f.seek(refcount_table)
        f.write((1 << 40).to_bytes(8, "big"))
    with pytest.raises(VerificationError, match=r"a\.qcow2: qemu-img check found problems"):
        check.image_ok(str(image), "qcow2", "a.qcow2")


def test_ranges_cover_the_disk_in_aligned_parts() -> None:
    mib = 1 << 20
    assert check.ranges(10 * mib, 1) == [(0, 10 * mib)]
    assert check.ranges(10 * mib + 512, 2) == [(0, 6 * mib), (6 * mib, 4 * mib + 512)]
    assert check.ranges(mib, 4) == [(0, mib)]
    for size, parts in ((7 * mib + 512, 3), (100 * mib, 8)):
        spans = check.ranges(size, parts)
        assert len(spans) <= parts
        assert sum(length for _, length in spans) == size
        assert all(offset % mib == 0 for offset, _ in spans)


def test_same_disk_in_parts_sees_a_difference_in_any_part(
    disk_maker: MakeDisk, tmp_path: Path
) -> None:
    mib = 1 << 20
    raw = disk_maker("a.raw", size=48 * mib, data=[(mib, mib), (40 * mib, mib)])
    image = _qcow2(raw, tmp_path / "a.qcow2")
    node: dict[str, object] = {
        "driver": "qcow2",
        "file": {"driver": "file", "filename": str(image)},
    }
    check.same_disk_in_parts(raw, 48 * mib, node, 3, "a.qcow2")
    with raw.open("r+b") as f:  # now differs only in the last of three parts
        f.seek(45 * mib)
        f.write(b"\x01")
    with pytest.raises(VerificationError, match="differs"):
        check.same_disk_in_parts(raw, 48 * mib, node, 3, "a.qcow2")
