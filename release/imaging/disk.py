"""Assemble a raw disk from a root tree without mounting and without loop devices.

MBR with one bootable partition from 1 MiB to the end; ext4 created in place by
`mkfs.ext4 -d` with the features the target EL's kernel and e2fsck accept (Debian's defaults
break both); `e2fsck -fn` checks it; GRUB 2 (i386-pc, made into the tree by `bootloader`)
goes in sector 0 and from sector 1 when the tree carries a kernel. All argv are pure
functions; the disk appears under its final name only when complete.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from release import fsutil, runner
from release.errors import InvalidInput, OperationError
from release.imaging import bootloader, reproducible
from release.model.template import EL

log = logging.getLogger(__name__)

SECTOR = 512
PART_START = 1 << 20  # 1 MiB: room for GRUB's core.img after the MBR
BLOCK = 4096

# What EL6 (kernel 2.6.32, e2fsprogs 1.41) and EL7 (3.10, e2fsprogs 1.42.9) create by
# default. Listed in full, after `none`, so a newer mke2fs cannot add anything (orphan_file,
# metadata_csum, metadata_csum_seed, 64bit on EL6) that the target cannot read or check.
_EXT4_BASE = (
    "has_journal",
    "ext_attr",
    "resize_inode",
    "dir_index",
    "filetype",
    "extent",
    "flex_bg",
    "sparse_super",
    "large_file",
    "huge_file",
    "uninit_bg",
    "dir_nlink",
    "extra_isize",
)
EXT4_FEATURES: dict[int, tuple[str, ...]] = {6: _EXT4_BASE, 7: (*_EXT4_BASE, "64bit")}

_BOOT_CODE = 440  # boot.img bytes before the disk signature and the partition table


@dataclass(frozen=True)
class Layout:
    size: int  # bytes, whole disk

    @property
    def part_bytes(self) -> int:
        return self.size - PART_START

    @property
    def blocks(self) -> int:
        return self.part_bytes // BLOCK

    @property
    def fs_spec(self) -> str:
        """How e2fsprogs and debugfs name the filesystem inside the image file."""
        return f"?offset={PART_START}"


def sfdisk_script(label_id: str) -> str:
    """One bootable Linux partition from 1 MiB to the end; a fixed disk id keeps rebuilds
    byte-identical."""
    return f"label: dos\nlabel-id: 0x{label_id}\nstart={PART_START // SECTOR}, type=83, bootable\n"


def mkfs_argv(raw: Path, tree: Path, el: EL, layout: Layout, uuid: str) -> list[str]:
    # The file is freshly truncated (reads as zeros), so lazy init is safe and keeps the
    # time proportional to the data, not to the virtual size.
    extended = (
        f"offset={PART_START},lazy_itable_init=1,lazy_journal_init=1,root_owner=0:0,"
        f"hash_seed={uuid}"
    )
    return [
        "mkfs.ext4",
        "-q",
        "-F",
        "-b",
        str(BLOCK),
        "-I",
        "256",
        "-i",
        "16384",  # explicit: the host's mke2fs.conf gives small disks 4x the inodes
        "-O",
        ",".join(("none", *EXT4_FEATURES[el])),
        "-E",
        extended,
        "-U",
        uuid,
        "-L",
        "root",
        "-d",
        str(tree),
        str(raw),
        str(layout.blocks),
    ]


def e2fsck_argv(raw: Path, layout: Layout) -> list[str]:
    return ["e2fsck", "-fn", f"{raw}{layout.fs_spec}"]


def tree_bytes(tree: Path) -> int:
    """Bytes the tree needs on ext4: each file rounded up to a block, plus an inode each."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(tree):
        for name in (*dirnames, *filenames):
            st = os.lstat(f"{dirpath}/{name}")
            total += -(-st.st_size // BLOCK) * BLOCK + 256
    return total


def check_fits(tree: Path, layout: Layout) -> None:
    need = tree_bytes(tree)
    # ext4's own metadata (journal, inode tables, reserved blocks) takes ~10% at these sizes.
    room = int(layout.part_bytes * 0.85)
    if need > room:
        raise InvalidInput(
            f"the root tree needs about {need >> 20} MiB but the disk's partition holds about"
            f" {room >> 20} MiB of data: raise disk.size in the image definition"
        )


def has_kernel(tree: Path) -> bool:
    return bool(sorted((tree / "boot").glob("vmlinuz-*")))


def assemble(
    tree: Path, raw: Path, el: EL, size: int, uuid: str, sde: int, wrap: Sequence[str] = ()
) -> None:
    """Write the disk for `tree` to `raw` (atomically). `wrap` runs mkfs under
    `unshare -r` when not root, so files are owned by root in the image. Every time in the
    tree and the filesystem is at most `sde` (SOURCE_DATE_EPOCH), so a rebuild is identical."""
    layout = Layout(size)
    check_fits(tree, layout)
    reproducible.clamp_times(tree, sde)
    raw.parent.mkdir(parents=True, exist_ok=True)
    with fsutil.atomic_path(raw) as tmp:
        with tmp.open("r+b") as fh:
            fh.truncate(size)
        runner.run(["sfdisk", "-q", str(tmp)], input=sfdisk_script(uuid[:8]).encode())
        try:
            runner.run(
                [*wrap, *mkfs_argv(tmp, tree, el, layout, uuid)], env=reproducible.tool_env(sde)
            )
        except OperationError as exc:
            if "Could not allocate" in str(exc) or "No space" in str(exc):
                raise InvalidInput(
                    f"the root tree does not fit on a {size >> 20} MiB disk (mkfs.ext4 ran out"
                    " of blocks or inodes): raise disk.size in the image definition"
                ) from exc
            raise
        set_ctimes(tree, tmp, layout, sde)
        runner.run(e2fsck_argv(tmp, layout))
        if has_kernel(tree):
            install_grub(tmp, tree / bootloader.PREFIX[el].lstrip("/") / "i386-pc")


def set_ctimes(tree: Path, raw: Path, layout: Layout, sde: int) -> None:
    script, unnamed = reproducible.ctime_script(tree, sde)
    if unnamed:
        log.warning("ctime left as built (not reproducible) for: %s", ", ".join(unnamed[:5]))
    commands = raw.with_name(raw.name + ".ctime")
    try:
        commands.write_text(script)
        runner.run(
            reproducible.debugfs_argv(commands, f"{raw}{layout.fs_spec}"),
            env=reproducible.tool_env(sde),
        )
    finally:
        commands.unlink(missing_ok=True)


def install_grub(raw: Path, grub_dir: Path) -> None:
    """boot.img's code in sector 0 (the partition table stays), core.img from sector 1:
    what grub-install does, done with plain writes since nothing is mounted. Both come from
    `grub_dir`, where `bootloader.install_core` left them in the tree."""
    boot, core = grub_dir / "boot.img", grub_dir / "core.img"
    if not (boot.is_file() and core.is_file()):
        raise OperationError(f"the tree has a kernel but no GRUB core image in {grub_dir}")
    data = core.read_bytes()
    if SECTOR + len(data) > PART_START:
        raise OperationError(f"core.img is {len(data)} bytes: it does not fit before 1 MiB")
    with raw.open("r+b") as fh:
        fh.seek(0)
        fh.write(boot.read_bytes()[:_BOOT_CODE])
        fh.seek(SECTOR)
        fh.write(data)


def copy_sparse(src: Path, dst: Path) -> None:
    """A copy (reflinked where the filesystem can) that keeps holes: never a hard link, so
    nothing done to an output can change the cached build."""
    with fsutil.atomic_path(dst) as tmp:
        fsutil.sparse_copy(src, tmp)


def partition_offset(raw: Path) -> int:
    """Byte offset of the first partition, read with `sfdisk -J` (any builder's disk)."""
    table = json.loads(runner.run(["sfdisk", "-J", str(raw)]).text)
    parts = table.get("partitiontable", {}).get("partitions", [])
    if not parts:
        raise OperationError(f"{raw} has no partition")
    sector = int(table["partitiontable"].get("sectorsize", SECTOR))
    return int(parts[0]["start"]) * sector
