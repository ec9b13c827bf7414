"""A full disk during the build (dnf into the installroot), conversion and filesystem
publishing: a clear error, nothing finished-looking left behind, and once space is freed the
rerun completes.

Each test mounts a small tmpfs (we are root in CI; skipped where mount is refused) and
unmounts it in teardown.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from release.errors import ReleaseError
from release.formats import ConvertOptions, convert
from release.imaging.builder import build
from tests.formats.conftest import make_disk
from tests.imaging.conftest import ImageFactory
from tests.imaging.diskview import fs_spec
from tests.publish.helpers import make_release, same_tree

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

MiB = 1 << 20
REPO = Path(__file__).resolve().parents[2]
Resize = Callable[[int], None]


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[tuple[Path, Resize]]:
    """(mount point, resize(mib)) of a tmpfs that starts at 4 MiB."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
                           capture_output=True, text=True, check=False)  # fmt: skip
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.strip()}")

    def resize(mib: int) -> None:
        subprocess.run(["mount", "-o", f"remount,size={mib}m", str(mnt)], check=True)

    try:
        yield mnt, resize
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def finished_looking(directory: Path) -> list[str]:
    """Files under a final name: anything but hidden staging/partial names."""
    return sorted(
        str(p.relative_to(directory))
        for p in directory.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    )


def test_conversion_on_a_full_disk(small_fs: tuple[Path, Resize], tmp_path: Path) -> None:
    mnt, resize = small_fs
    raw = make_disk(
        tmp_path / "disk.raw", 48 * MiB + 512, data=((MiB, 3 * MiB), (20 * MiB, 3 * MiB))
    )
    options = ConvertOptions(formats=("qcow2", "vhd", "ova", "gce"), jobs=1)
    with pytest.raises(ReleaseError) as caught:
        convert(raw, mnt, "c7", options)
    assert str(caught.value) == (
        f"{mnt}: no space left on device during the conversion; nothing was written"
        " (free some space or choose another --out)"
    )
    assert caught.value.exit_code == 1  # an operation failed, not bad input or a bad image
    assert finished_looking(mnt) == []
    assert list(mnt.iterdir()) == []  # convert's promise: nothing left in the out dir

    resize(256)
    artifacts = convert(raw, mnt, "c7", options)
    assert sorted(a.path.name for a in artifacts) == finished_looking(mnt)
    assert len(artifacts) == 4


def push(rel: Path, dest: Path, journal: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "release", "push", str(rel), f"file://{dest}",
            "--journal", str(journal)]  # fmt: skip
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)


def test_filesystem_publish_on_a_full_disk(small_fs: tuple[Path, Resize], tmp_path: Path) -> None:
    mnt, resize = small_fs
    rel = make_release(tmp_path / "src", artifact_size=12 * MiB)
    journal = tmp_path / "journal.sqlite"
    result = push(rel, mnt, journal)
    assert result.returncode == 1, result.stderr
    assert "No space left on device" in result.stderr
    assert "rerun" in result.stderr or "cannot copy" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (mnt / "img" / "1.0").exists()  # no release appeared under its final name
    staged = mnt / "img" / ".1.0.staging-partial"
    for path in staged.iterdir() if staged.exists() else []:
        if not path.name.startswith("."):
            assert path.read_bytes() == (rel / path.name).read_bytes()  # whole, or .part

    resize(64)
    again = push(rel, mnt, journal)
    assert again.returncode == 0, again.stderr
    assert same_tree(rel, mnt / "img" / "1.0")
    assert finished_looking(mnt) == sorted(f"img/1.0/{p.name}" for p in rel.iterdir())


@pytest.mark.parametrize("size", ["512k", "2m", "4m"])
def test_build_on_a_full_disk(
    size: str, small_fs: tuple[Path, Resize], make_image: ImageFactory, tmp_path: Path
) -> None:
    """The cache (work dir, dnf's installroot) on a disk too small for the install. The sizes
    meet the three ways it fills: rpm's sqlite rpmdb ("database or disk is full", dnf then
    dies with a traceback), dnf's own check before it writes ("At least 2MB more space
    needed"), and ENOSPC in our own steps after dnf (writing the boot loader's modules)."""
    mnt, resize = small_fs
    subprocess.run(["mount", "-o", f"remount,size={size}", str(mnt)], check=True)
    cache_dir, out = mnt / "cache", tmp_path / "out"
    image = make_image(7)
    with pytest.raises(ReleaseError) as caught:
        build(image, "aws", out, cache_dir)
    message = str(caught.value)
    assert message.startswith(f"{cache_dir}: no space left on device while building fixture-el7")
    assert message.endswith("nothing was cached (free some space or choose another --cache)")
    assert "\n" not in message  # one line, not dnf's traceback
    assert caught.value.exit_code == 1
    assert not (cache_dir / "builds").exists()  # no finished-looking cache entry
    assert list((cache_dir / "tmp").iterdir()) == []  # nor a work dir left behind
    assert not out.exists()

    resize(64)
    result = build(image, "aws", out, cache_dir)
    assert not result.cached
    assert sorted(p.name for p in (cache_dir / "builds").iterdir()) == [result.build_id]
    fsck = subprocess.run(["e2fsck", "-fn", fs_spec(result.raw_path)], capture_output=True)
    assert fsck.returncode == 0, fsck.stdout
    assert "kernel 0 1.0 1.el7 x86_64" in result.manifest_path.read_text().splitlines()
    assert build(image, "aws", tmp_path / "again", cache_dir).cached  # and it is reused


def test_build_output_on_a_full_disk(
    small_fs: tuple[Path, Resize], make_image: ImageFactory, tmp_path: Path
) -> None:
    """The build fits in the cache, its copy out does not: the entry stays, no output appears."""
    mnt, resize = small_fs
    image = make_image(7)
    with pytest.raises(ReleaseError) as caught:
        build(image, "aws", mnt / "out", tmp_path / "cache")
    assert str(caught.value) == (
        f"{mnt / 'out'}: no space left on device while copying the build out;"
        " the build stays cached (free some space or choose another --out)"
    )
    assert finished_looking(mnt) == []
    resize(64)
    result = build(image, "aws", mnt / "out", tmp_path / "cache")
    assert result.cached
    assert finished_looking(mnt) == sorted(f"out/{p.name}" for p in (mnt / "out").iterdir())
