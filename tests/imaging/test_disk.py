"""Raw disk assembly: argv, per-EL ext4 features, the partition grows, GRUB in place,
nothing half-written on failure."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from release.errors import InvalidInput, OperationError
from release.imaging import bootloader, disk
from release.model.template import EL
from tests.imaging.diskview import fs_spec, partitions

UUID = "0b5c6c8e-1111-4222-8333-444455556666"
SDE = 1700000000


def small_tree(tmp_path: Path, kernel: bool = False) -> Path:
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "hostname").write_text("centos\n")
    (tree / "boot").mkdir()
    if kernel:
        (tree / "boot" / "vmlinuz-1.0").write_bytes(b"not really a kernel")
        bootloader.install_core(tree, 7)
    return tree


def features(raw: Path) -> set[str]:
    out = subprocess.run(
        ["dumpe2fs", "-h", fs_spec(raw)], check=True, capture_output=True, text=True
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("Filesystem features:"))
    return set(line.split(":", 1)[1].split())


def test_mkfs_argv_lists_every_feature_explicitly(tmp_path: Path) -> None:
    argv = disk.mkfs_argv(tmp_path / "d.raw", tmp_path, 6, disk.Layout(64 << 20), UUID)
    assert argv[argv.index("-O") + 1].startswith("none,has_journal,")
    assert "64bit" not in argv[argv.index("-O") + 1]
    assert argv[-1] == str((64 << 20) // 4096 - 256)  # the partition starts at 1 MiB
    assert "offset=1048576" in argv[argv.index("-E") + 1]


@pytest.mark.parametrize("el", [6, 7])
def test_ext4_features_the_target_el_accepts(tmp_path: Path, el: EL) -> None:
    raw = tmp_path / "d.raw"
    disk.assemble(small_tree(tmp_path), raw, el, 64 << 20, UUID, SDE)
    found = features(raw)
    assert found == set(disk.EXT4_FEATURES[el])
    for broken in ("orphan_file", "metadata_csum", "metadata_csum_seed"):
        assert broken not in found
    assert ("64bit" in found) == (el == 7)  # EL6's e2fsprogs 1.41 has no 64bit
    parts = partitions(raw)
    assert len(parts) == 1 and parts[0]["start"] == 2048 and parts[0].get("bootable")
    assert parts[0]["start"] + parts[0]["size"] == (64 << 20) // 512  # type: ignore[operator]
    owner = subprocess.run(
        ["debugfs", "-R", "stat /etc/hostname", fs_spec(raw)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "User:     0   Group:     0" in owner


def test_the_partition_and_filesystem_can_grow(tmp_path: Path) -> None:
    raw = tmp_path / "d.raw"
    disk.assemble(small_tree(tmp_path), raw, 7, 64 << 20, UUID, SDE)
    grown = tmp_path / "grown.raw"
    shutil.copyfile(raw, grown)
    subprocess.run(["qemu-img", "resize", "-f", "raw", str(grown), "256M"], check=True)
    subprocess.run(["growpart", str(grown), "1"], check=True, capture_output=True)
    part = partitions(grown)[0]
    end = (256 << 20) // 512
    assert part["start"] == 2048
    assert isinstance(part["size"], int) and end - 2048 - part["size"] < 2048  # to the end
    subprocess.run(["e2fsck", "-fn", fs_spec(grown)], check=True, capture_output=True)


def test_grub_goes_in_sector_0_and_from_sector_1(tmp_path: Path) -> None:
    raw = tmp_path / "d.raw"
    disk.assemble(small_tree(tmp_path, kernel=True), raw, 7, 64 << 20, UUID, SDE)
    head = raw.read_bytes()[: 1 << 20]
    boot = Path("/usr/lib/grub/i386-pc/boot.img").read_bytes()
    assert head[:440] == boot[:440]
    assert head[510:512] == b"\x55\xaa"
    assert head[446 + 8 : 446 + 12] == (2048).to_bytes(4, "little")  # partition table kept
    core = (tmp_path / "tree" / "boot/grub2/i386-pc/core.img").read_bytes()
    assert head[512 : 512 + len(core)] == core  # the core.img grub-mkimage made, unchanged
    assert len(core) > 20_000


def test_a_kernel_without_a_core_image_is_an_error(tmp_path: Path) -> None:
    tree = small_tree(tmp_path)
    (tree / "boot" / "vmlinuz-1.0").write_bytes(b"not really a kernel")
    with pytest.raises(OperationError, match="no GRUB core image"):
        disk.assemble(tree, tmp_path / "d.raw", 7, 64 << 20, UUID, SDE)


def test_no_bootloader_without_a_kernel(tmp_path: Path) -> None:
    raw = tmp_path / "d.raw"
    disk.assemble(small_tree(tmp_path), raw, 7, 64 << 20, UUID, SDE)
    assert raw.read_bytes()[:440] == b"\0" * 440


def test_a_tree_larger_than_the_disk_is_refused(tmp_path: Path) -> None:
    tree = small_tree(tmp_path)
    with (tree / "big").open("wb") as fh:
        fh.truncate(80 << 20)  # sparse, but it takes its full size on the image
    raw = tmp_path / "out" / "d.raw"
    (tmp_path / "out").mkdir()
    with pytest.raises(InvalidInput, match=r"needs about 80 MiB.*raise disk.size"):
        disk.assemble(tree, raw, 7, 64 << 20, UUID, SDE)
    assert list((tmp_path / "out").iterdir()) == []  # no half-written image, no temp file


@pytest.mark.slow
def test_mkfs_running_out_of_space_is_a_clear_error(tmp_path: Path) -> None:
    tree = small_tree(tmp_path)
    many = tree / "many"
    many.mkdir()
    for i in range(5000):  # more files than a 64 MiB ext4 has inodes (one per 16 KiB)
        (many / str(i)).touch()
    raw = tmp_path / "out" / "d.raw"
    layout = disk.Layout(64 << 20)
    assert disk.tree_bytes(tree) < layout.part_bytes // 2  # passes the size estimate...
    with pytest.raises(InvalidInput, match="does not fit"):
        disk.assemble(tree, raw, 6, 64 << 20, UUID, SDE)  # ...but not mkfs
    assert list((tmp_path / "out").iterdir()) == []


def test_assembly_is_reproducible(tmp_path: Path) -> None:
    tree = small_tree(tmp_path)
    a, b = tmp_path / "a.raw", tmp_path / "b.raw"
    disk.assemble(tree, a, 7, 64 << 20, UUID, SDE)
    disk.assemble(tree, b, 7, 64 << 20, UUID, SDE)
    assert disk.partition_offset(a) == 1 << 20
    assert a.read_bytes()[:512] == b.read_bytes()[:512]  # same disk id and table


def test_outputs_are_copies_not_links(tmp_path: Path) -> None:
    src = tmp_path / "a.raw"
    with src.open("wb") as fh:
        fh.truncate(1 << 30)
        fh.write(b"data")
    dst = tmp_path / "b.raw"
    disk.copy_sparse(src, dst)
    assert dst.read_bytes()[:4] == b"data" and dst.stat().st_ino != src.stat().st_ino
    assert dst.stat().st_blocks * 512 < 1 << 20  # holes kept
