from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from release.errors import VerificationError
from release.formats import gce
from release.formats.options import GIB

from .conftest import MIB, MakeDisk


def _archive(work: Path, out: Path, tar_args: list[str], members: list[str]) -> Path:
    with out.open("wb") as fh:
        tar = subprocess.Popen(
            ["tar", "-cf", "-", *tar_args, "-C", str(work), *members], stdout=subprocess.PIPE
        )
        subprocess.run(["pigz", "-c"], stdin=tar.stdout, stdout=fh, check=True)
        assert tar.wait() == 0
    return out


def test_stage_pads_a_sparse_copy_or_links(disk_maker: MakeDisk, tmp_path: Path) -> None:
    raw = disk_maker()
    (tmp_path / "w").mkdir()
    staged = gce.stage_disk(raw, raw.stat().st_size, tmp_path / "w")
    assert staged.name == "disk.raw" and not staged.is_symlink()
    assert staged.stat().st_size == GIB
    assert staged.stat().st_blocks * 512 < 16 * MIB  # padding is a hole
    aligned = disk_maker("aligned.raw", size=GIB)
    (tmp_path / "w2").mkdir()
    linked = gce.stage_disk(aligned, GIB, tmp_path / "w2")
    assert linked.is_symlink() and linked.resolve() == aligned.resolve()


def test_build_and_check_a_good_archive(small_disk: Path, tmp_path: Path) -> None:
    work = tmp_path / "w"
    work.mkdir()
    gce.stage_disk(small_disk, small_disk.stat().st_size, work)
    out = tmp_path / "disk.tar.gz"
    gce.build(work, out, threads=2, level=1)
    gce.check_archive(out, small_disk, tmp_path / "scratch")
    listing = subprocess.run(["tar", "-tvzf", str(out)], capture_output=True, text=True)
    assert listing.stdout.split()[-1] == "disk.raw"
    assert out.read_bytes()[3] & 0x08 == 0  # gzip FNAME flag: no name stored
    assert out.read_bytes()[4:8] == bytes(4)  # gzip MTIME: none


def _padded(raw: Path, work: Path, size: int = GIB) -> None:
    work.mkdir()
    subprocess.run(["cp", "--sparse=always", str(raw), str(work / "disk.raw")], check=True)
    with (work / "disk.raw").open("r+b") as f:
        f.truncate(size)


@pytest.mark.parametrize(
    ("tar_args", "members", "size", "message"),
    [
        (["--format=oldgnu"], ["disk.raw"], 64 * MIB, "not stored as an oldgnu sparse"),
        (["--format=posix", "-S"], ["disk.raw"], GIB, "not 'disk.raw'"),
        (["--format=oldgnu", "-S"], ["disk.raw"], GIB + MIB, "not a whole number of GiB"),
        (["--format=oldgnu", "-S"], ["disk.raw", "extra"], GIB, r"holds \['disk.raw', 'extra'\]"),
        (["--format=oldgnu", "-S"], ["extra", "disk.raw"], GIB, "first member is 'extra'"),
    ],
)
def test_check_rejects_bad_layouts(
    small_disk: Path,
    tmp_path: Path,
    tar_args: list[str],
    members: list[str],
    size: int,
    message: str,
) -> None:
    work = tmp_path / "w"
    _padded(small_disk, work, size)
    (work / "extra").write_bytes(b"x")
    out = _archive(work, tmp_path / "bad.tar.gz", tar_args, members)
    with pytest.raises(VerificationError, match=message):
        gce.check_archive(out, small_disk, tmp_path / "scratch")


def test_check_rejects_another_disk(disk_maker: MakeDisk, tmp_path: Path) -> None:
    raw = disk_maker("a.raw")
    other = disk_maker("b.raw", seed=2)
    work = tmp_path / "w"
    _padded(other, work)
    out = _archive(work, tmp_path / "x.tar.gz", ["--format=oldgnu", "-S"], ["disk.raw"])
    with pytest.raises(VerificationError, match="differs from the raw disk"):
        gce.check_archive(out, raw, tmp_path / "scratch")


def test_check_rejects_what_is_not_gzip(small_disk: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.tar.gz"
    out.write_bytes(b"plain" * 200)
    with pytest.raises(VerificationError, match="not a gzipped tar"):
        gce.check_archive(out, small_disk, tmp_path / "scratch")


def test_tar_numbers() -> None:
    assert gce._number(b"00000001000\x00") == 512
    assert gce._number(bytes([0x80]) + (9 * GIB).to_bytes(11, "big")) == 9 * GIB
    assert gce._number(b"\x00" * 12) == 0
