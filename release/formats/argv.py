"""Pure argv builders for every external command a conversion runs (tested cheaply)."""

from __future__ import annotations

import json
from pathlib import Path

from release.formats.options import Qcow2Compat

# Fixed tar metadata so the same disk gives the same archive bytes.
_TAR_REPRODUCIBLE = [
    "--owner=0",
    "--group=0",
    "--numeric-owner",
    "--mtime=@0",
    "--mode=0644",
    "--no-recursion",
]


def qemu_info(image: Path) -> list[str]:
    """Probe (no -f on purpose): tells a raw disk from a qcow2/vmdk/vhd passed as raw."""
    return ["qemu-img", "info", "--output=json", str(image)]


def qcow2(raw: Path, out: Path, compat: Qcow2Compat, compress: bool) -> list[str]:
    argv = ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-o", f"compat={compat}"]
    if compress:
        argv.append("-c")
    return [*argv, str(raw), str(out)]


def vhd_create(out: Path, size: int) -> list[str]:
    """An empty fixed VHD of exactly `size` bytes (force_size: no CHS rounding)."""
    return [
        "qemu-img",
        "create",
        "-q",
        "-f",
        "vpc",
        "-o",
        "subformat=fixed,force_size=on",
        str(out),
        str(size),
    ]


def vhd_fill(raw: Path, out: Path) -> list[str]:
    """Copy the raw disk into the VHD made by vhd_create, which may be larger (MiB rounding).

    --target-is-zero: the new VHD reads as zeros, so holes stay holes instead of being
    written (or fallocated) over the whole virtual size.
    """
    return [
        "qemu-img",
        "convert",
        "-n",
        "--target-is-zero",
        "-f",
        "raw",
        "-O",
        "vpc",
        str(raw),
        str(out),
    ]


def vmdk(raw: Path, out: Path) -> list[str]:
    return [
        "qemu-img",
        "convert",
        "-f",
        "raw",
        "-O",
        "vmdk",
        "-o",
        "subformat=streamOptimized,adapter_type=ide",
        str(raw),
        str(out),
    ]


def xz(raw: Path) -> list[str]:
    # One thread: its output never depends on the machine, and it needs ~94 MiB where two
    # threads need ~280 MiB (over the memory budget of a conversion).
    return ["xz", "-c", "-6", "-T1", str(raw)]


def xz_test(path: Path) -> list[str]:
    return ["xz", "-t", str(path)]


def xz_list(path: Path) -> list[str]:
    return ["xz", "--robot", "--list", str(path)]


def gce_tar(directory: Path, member: str = "disk.raw") -> list[str]:
    """GCE's layout: oldgnu, sparse, no xattr/ACL/SELinux headers; -h follows a symlinked disk."""
    return [
        "tar",
        "--create",
        "--file=-",
        "--format=oldgnu",
        "--sparse",
        "--dereference",
        "--no-xattrs",
        "--no-acls",
        "--no-selinux",
        *_TAR_REPRODUCIBLE,
        "-C",
        str(directory),
        member,
    ]


def pigz(threads: int, level: int) -> list[str]:
    # -n: no name and no timestamp in the gzip header (reproducible). pigz's output does not
    # depend on the thread count.
    return ["pigz", "-c", "-n", f"-{level}", f"-p{threads}"]


def pigz_decompress(archive: Path) -> list[str]:
    return ["pigz", "-d", "-c", str(archive)]


def tar_extract(directory: Path) -> list[str]:
    """Extract a tar from stdin, keeping sparse members sparse; -v lists the member names."""
    return [
        "tar",
        "--extract",
        "--verbose",
        "--file=-",
        "--no-same-owner",
        "--no-same-permissions",
        "-C",
        str(directory),
    ]


def ova_tar(directory: Path, members: list[str], out: Path, tar_format: str) -> list[str]:
    """The OVA: members in the given order (descriptor first), no sparse tricks."""
    return [
        "tar",
        "--create",
        f"--file={out}",
        f"--format={tar_format}",
        *_TAR_REPRODUCIBLE,
        "-C",
        str(directory),
        "--",
        *members,
    ]


def qemu_check(image: str, fmt: str | None) -> list[str]:
    argv = ["qemu-img", "check", "-q"]
    if fmt:
        argv += ["-f", fmt]
    return [*argv, image]


def qemu_compare(raw: Path, image: str, fmt: str | None) -> list[str]:
    """Compare against the raw disk; a larger image must be zero past the raw's end."""
    argv = ["qemu-img", "compare", "-q", "-f", "raw"]
    if fmt:
        argv += ["-F", fmt]
    return [*argv, str(raw), image]


Node = dict[str, object]  # a qemu block node, as in a `json:` filename


def vmdk_in_tar_node(archive: Path, offset: int, size: int) -> Node:
    """The VMDK member of a tar, read in place (no extraction)."""
    return {
        "driver": "vmdk",
        "file": {
            "driver": "raw",
            "offset": offset,
            "size": size,
            "file": {"driver": "file", "filename": str(archive)},
        },
    }


def json_filename(node: Node) -> str:
    return "json:" + json.dumps(node, separators=(",", ":"))


def vmdk_in_tar(archive: Path, offset: int, size: int) -> str:
    return json_filename(vmdk_in_tar_node(archive, offset, size))


def window(node: Node, offset: int, size: int) -> str:
    """`size` bytes of the disk `node` from `offset` on, as a disk of its own."""
    return json_filename({"driver": "raw", "offset": offset, "size": size, "file": node})


def qemu_compare_windows(raw: Path, image: Node, offset: int, size: int) -> list[str]:
    """Compare one range of the raw disk with the same range of `image`."""
    raw_node: Node = {"driver": "file", "filename": str(raw)}
    return [
        "qemu-img",
        "compare",
        "-q",
        window(raw_node, offset, size),
        window(image, offset, size),
    ]
