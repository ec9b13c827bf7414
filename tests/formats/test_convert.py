"""End to end: the real tools on small sparse disks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from release.errors import InvalidInput, OperationError
from release.formats import ConvertOptions, convert
from release.formats.convert import OWNER, _pigz_threads
from release.formats.options import GIB
from release.owner import owner_id
from tests.conftest import dead_owner

from .conftest import MIB, MakeDisk, make_disk, qemu_img

ALL = ("qcow2", "raw", "vhd", "ova", "gce")


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_every_format_is_made_and_holds_the_disk(small_disk: Path, out_dir: Path) -> None:
    options = ConvertOptions(raw_xz=True, product="CentOS", version="7.9", qcow2_compat="0.10")
    artifacts = convert(small_disk, out_dir, "c7", options)
    names = ["c7.qcow2", "c7.raw", "c7.raw.xz", "c7.vhd", "c7.ova", "c7.tar.gz"]
    assert [a.path.name for a in artifacts] == names
    assert [a.format for a in artifacts] == ["qcow2", "raw", "raw", "vhd", "ova", "gce"]
    assert _files(out_dir) == sorted(names)  # no staging left behind
    for artifact in artifacts:
        assert artifact.size == artifact.path.stat().st_size
    # Checked again here with the tools directly, not through our own check code.
    for name, fmt in (("c7.qcow2", "qcow2"), ("c7.raw", "raw"), ("c7.vhd", "vpc")):
        result = qemu_img("compare", "-f", "raw", "-F", fmt, str(small_disk), str(out_dir / name))
        assert result.returncode == 0, result.stdout + result.stderr
    info = json.loads(qemu_img("info", "--output=json", str(out_dir / "c7.qcow2")).stdout)
    assert info["format-specific"]["data"]["compat"] == "0.10"
    vhd_info = json.loads(
        qemu_img("info", "-f", "vpc", "--output=json", str(out_dir / "c7.vhd")).stdout
    )
    assert vhd_info["virtual-size"] == 49 * MIB  # rounded up to a whole MiB
    xz = subprocess.run(["xz", "-dc", str(out_dir / "c7.raw.xz")], capture_output=True, check=True)
    assert xz.stdout == small_disk.read_bytes()
    listing = subprocess.run(
        ["tar", "-tf", str(out_dir / "c7.ova")], capture_output=True, text=True
    )
    assert listing.stdout.split() == ["c7.ovf", "c7.mf", "c7.vmdk"]


def test_outputs_are_sparse(disk_maker: MakeDisk, out_dir: Path) -> None:
    raw = disk_maker(size=4 * GIB, data=[(MIB, MIB), (3 * GIB, MIB)])
    artifacts = convert(raw, out_dir, "big", ConvertOptions(jobs=2))
    for artifact in artifacts:
        used = artifact.path.stat().st_blocks * 512
        assert used < 16 * MIB, f"{artifact.path.name} uses {used} bytes"


@pytest.mark.slow
def test_reproducible_across_runs_and_job_counts(small_disk: Path, tmp_path: Path) -> None:
    outputs = []
    for jobs in (1, 2):
        out = tmp_path / f"out{jobs}"
        out.mkdir()
        options = ConvertOptions(
            jobs=jobs, raw_xz=True, ova_sha1=True, qcow2_compress=True, gzip_level=6
        )
        convert(small_disk, out, "c7", options)
        outputs.append(out)
    a, b = outputs
    assert _files(a) == _files(b)
    for name in _files(a):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_pigz_gets_the_jobs() -> None:
    assert _pigz_threads(ConvertOptions(jobs=4)) == 4
    assert _pigz_threads(ConvertOptions(jobs=1)) == 1


def test_chosen_formats_only(small_disk: Path, out_dir: Path) -> None:
    artifacts = convert(small_disk, out_dir, "c7", ConvertOptions(formats=("gce",)))
    assert [a.path.name for a in artifacts] == ["c7.tar.gz"]
    assert _files(out_dir) == ["c7.tar.gz"]


def test_a_qcow2_passed_as_raw_is_refused(small_disk: Path, out_dir: Path, tmp_path: Path) -> None:
    fake = tmp_path / "fake.raw"
    subprocess.run(["qemu-img", "convert", "-O", "qcow2", str(small_disk), str(fake)], check=True)
    with pytest.raises(InvalidInput, match="qcow2 image, not a raw disk"):
        convert(fake, out_dir, "c7", ConvertOptions())
    assert _files(out_dir) == []


def test_a_truncated_disk_is_refused(small_disk: Path, out_dir: Path) -> None:
    os.truncate(small_disk, 8 * MIB)
    with pytest.raises(InvalidInput, match="truncated"):
        convert(small_disk, out_dir, "c7", ConvertOptions())
    assert _files(out_dir) == []


def test_missing_output_directory(small_disk: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such directory"):
        convert(small_disk, tmp_path / "nope", "c7", ConvertOptions())


def test_bad_basename(small_disk: Path, out_dir: Path) -> None:
    with pytest.raises(InvalidInput, match="basename"):
        convert(small_disk, out_dir, "../c7", ConvertOptions())


def test_a_disk_too_large_for_vhd(tmp_path: Path, out_dir: Path) -> None:
    raw = tmp_path / "huge.raw"
    with raw.open("wb") as f:
        f.truncate(2041 * GIB)  # sparse
    with pytest.raises(InvalidInput, match=r"vhd: the disk is 2041\.0 GiB"):
        convert(raw, out_dir, "c7", ConvertOptions(formats=("qcow2", "vhd")))
    assert _files(out_dir) == []


def _mount_tmpfs(path: Path, options: str) -> Iterator[Path]:
    path.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {result.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    yield from _mount_tmpfs(tmp_path / "tiny", "size=20m")


@pytest.fixture
def read_only_fs(tmp_path: Path) -> Iterator[Path]:
    yield from _mount_tmpfs(tmp_path / "ro", "ro,size=1m")


def test_output_directory_not_writable(small_disk: Path, read_only_fs: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot write there"):
        convert(small_disk, read_only_fs, "c7", ConvertOptions())


def test_disk_full_leaves_nothing(small_disk: Path, tiny_fs: Path) -> None:
    """9 MiB of random data: one copy fits in 20 MiB, three cannot, so the failure comes
    mid-way and must take the finished outputs away too."""
    raw = make_disk(small_disk.parent / "fat.raw", 48 * MIB, data=[(MIB, 9 * MIB)])
    with pytest.raises(OperationError, match="no space left on device"):
        convert(raw, tiny_fs, "c7", ConvertOptions(formats=("qcow2", "raw", "vhd")))
    assert _files(tiny_fs) == []


def test_interrupted_conversion_leaves_nothing_that_looks_finished(
    disk_maker: MakeDisk, out_dir: Path
) -> None:
    raw = disk_maker(size=GIB, data=[(MIB, 64 * MIB)])
    code = (
        "import sys; from pathlib import Path; from release.formats import convert, ConvertOptions;"
        "convert(Path(sys.argv[1]), Path(sys.argv[2]), 'c7', ConvertOptions(jobs=2))"
    )
    # Its own process group, killed whole: like a crash, tools included (none outlive the test).
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(raw), str(out_dir)], start_new_session=True
    )
    deadline = time.monotonic() + 30
    while not any(out_dir.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    leftovers = _files(out_dir)
    assert leftovers, "the conversion finished before it could be interrupted"
    assert all(name.startswith(".") and name.endswith(".part") for name in leftovers)
    # The rerun sweeps what the killed process left (GBs in real life) and finishes.
    convert(raw, out_dir, "c7", ConvertOptions(formats=("qcow2",)))
    assert _files(out_dir) == ["c7.qcow2"]


def test_a_live_conversions_staging_is_not_swept(small_disk: Path, out_dir: Path) -> None:
    mine = owner_id()
    live = out_dir / ".c7.live0000.part"
    other_host = out_dir / ".c7.host0000.part"
    other_name = out_dir / ".c7x.dead0000.part"
    dead = dead_owner()
    owners = {live: mine, other_host: b"x@elsewhere:" + dead.partition(b":")[2], other_name: dead}
    for d, owner in owners.items():
        d.mkdir()
        (d / OWNER).write_bytes(owner)
    convert(small_disk, out_dir, "c7", ConvertOptions(formats=("qcow2",)))
    assert _files(out_dir) == sorted([live.name, other_host.name, other_name.name, "c7.qcow2"])
