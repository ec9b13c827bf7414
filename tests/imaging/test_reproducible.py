"""Two builds of the same definition, package set and SOURCE_DATE_EPOCH are byte-identical."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from release.errors import InvalidInput
from release.imaging import disk, reproducible
from release.imaging.builder import build
from tests.imaging.conftest import ImageFactory

SDE = 1700000000  # 2023-11-14T22:13:20Z
FS = "?offset=1048576"


def debugfs(raw: Path, command: str) -> str:
    done = subprocess.run(
        ["debugfs", "-R", command, f"{raw}{FS}"], capture_output=True, text=True, check=True
    )
    return done.stdout


def installed_times(raw: Path, dest: Path) -> set[str]:
    """INSTALLTIME, INSTALLTID and SHA1HEADER of every package, read by the host's rpm from
    the image's own BDB rpmdb (`Packages` alone: rpm warns of the missing indexes, exit 1)."""
    dest.mkdir()
    debugfs(raw, f"rdump /var/lib/rpm {dest}")
    out = subprocess.run(
        ["rpm", "--dbpath", str(dest / "rpm"), "--define", "_db_backend bdb_ro", "-qa", "--qf",
         r"%{NAME} %{INSTALLTIME} %{INSTALLTID} %{SHA1HEADER}\n"],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    return set(out.splitlines())


def test_two_builds_are_byte_identical_and_another_sde_is_not(
    make_image: ImageFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = make_image(7)
    results = []
    for i, mask in ((1, 0o022), (2, 0o077)):
        tmp = tmp_path / f"tmp{i}"
        tmp.mkdir()
        monkeypatch.setenv("TMPDIR", str(tmp))
        old = os.umask(mask)
        try:
            results.append(build(image, "aws", tmp_path / f"out{i}", tmp_path / f"c{i}", sde=SDE))
        finally:
            os.umask(old)
        time.sleep(1.1)  # a clock that leaked in would show
    first, second = results
    assert not first.cached and not second.cached
    for a, b in (
        (first.raw_path, second.raw_path),
        (first.manifest_path, second.manifest_path),
        (first.manifest_json_path, second.manifest_json_path),
    ):
        assert a.read_bytes() == b.read_bytes(), f"{a.name} differs"
    # The clocks the build would have read are the SDE, in the filesystem and in rpm.
    stat = debugfs(first.raw_path, "stat /etc/fstab")
    for field in ("ctime", "atime", "mtime"):
        assert f"{field}: 0x6553f100" in stat, stat
    assert "Filesystem created:       Tue Nov 14 22:13:20 2023" in debugfs(first.raw_path, "stats")
    rows = installed_times(first.raw_path, tmp_path / "db")
    assert rows and all(f" {SDE} {SDE} " in row for row in rows), rows
    other = build(image, "aws", tmp_path / "out3", tmp_path / "c1", sde=SDE + 86400)
    assert other.build_id != first.build_id and not other.cached
    assert other.raw_path.read_bytes() != first.raw_path.read_bytes()
    assert "mtime: 0x65554280" in debugfs(other.raw_path, "stat /etc/fstab")


def test_install_times_change_no_header_digest(make_image: ImageFactory, tmp_path: Path) -> None:
    """SHA1HEADER (the immutable region's digest) is the same with the SDE and without."""
    image = make_image(7)
    a = build(image, "aws", tmp_path / "a", tmp_path / "c", sde=SDE)
    b = build(image, "aws", tmp_path / "b", tmp_path / "c", sde=SDE + 1)
    digests = {
        row.split()[0]: row.split()[3] for row in installed_times(a.raw_path, tmp_path / "1")
    }
    other = {row.split()[0]: row.split()[3] for row in installed_times(b.raw_path, tmp_path / "2")}
    assert digests == other and len(digests) >= 5


def test_shadow_days_become_the_sde_day() -> None:
    text = "root:!!:19000:0:99999:7:::\nbin:*:18000::::::\nnobody:*::0:99999:7:::\n"
    day = str(SDE // 86400)  # 19675
    assert reproducible.shadow_days(text, SDE) == (
        f"root:!!:{day}:0:99999:7:::\nbin:*:{day}::::::\nnobody:*::0:99999:7:::\n"
    )


@pytest.mark.parametrize("value", ["soon", "-1", "1.5", "99999999999"])
def test_a_bad_source_date_epoch_is_a_clear_error(value: str) -> None:
    with pytest.raises(InvalidInput, match="SOURCE_DATE_EPOCH"):
        reproducible.source_date_epoch({"SOURCE_DATE_EPOCH": value}, 0)


def test_source_date_epoch_from_the_environment_or_the_fallback() -> None:
    assert reproducible.source_date_epoch({"SOURCE_DATE_EPOCH": "12345"}, 7) == 12345
    assert reproducible.source_date_epoch({}, 7) == 7


def test_the_disk_does_not_depend_on_creation_order_or_the_build_filesystem(
    tmp_path: Path,
) -> None:
    """mkfs.ext4 -d numbers inodes in the order it walks the tree: the same names created in
    other orders, on ext4 (tmp_path) and tmpfs (/dev/shm, where there is one), give one disk."""
    shm = Path("/dev/shm")
    places = [tmp_path / "a", tmp_path / "b"]
    if shm.is_dir() and os.access(shm, os.W_OK):
        places.append(Path(tempfile.mkdtemp(dir=shm)))
    disks = []
    try:
        for i, place in enumerate(places):
            names = list(range(120))
            random.Random(i).shuffle(names)  # noqa: S311 - an order, not a secret
            (place / "tree" / "etc").mkdir(parents=True)
            for n in names:
                (place / "tree" / "etc" / f"f{n:03d}").write_text(str(n))
            raw = tmp_path / f"{i}.raw"
            disk.assemble(
                place / "tree", raw, 7, 64 << 20, "0b5c6c8e-1111-4222-8333-444455556666", SDE
            )
            disks.append(raw.read_bytes())
    finally:
        for place in places[2:]:
            shutil.rmtree(place, ignore_errors=True)
    assert all(d == disks[0] for d in disks[1:])
