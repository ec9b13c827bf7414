"""The argv builders, cheaply; the real tools run them in the other tests."""

from __future__ import annotations

import json
from pathlib import Path

from release.formats import argv

RAW = Path("/d/disk.raw")


def test_qcow2_compat_and_compression() -> None:
    assert argv.qcow2(RAW, Path("o.qcow2"), "0.10", compress=False) == [
        "qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-o", "compat=0.10",
        "/d/disk.raw", "o.qcow2",
    ]  # fmt: skip
    assert "-c" in argv.qcow2(RAW, Path("o"), "1.1", compress=True)


def test_vhd_is_fixed_with_forced_size_and_keeps_holes() -> None:
    create = argv.vhd_create(Path("o.vhd"), 1 << 20)
    assert "subformat=fixed,force_size=on" in create and create[-1] == str(1 << 20)
    fill = argv.vhd_fill(RAW, Path("o.vhd"))
    assert {"-n", "--target-is-zero"} <= set(fill)
    assert fill[fill.index("-O") + 1] == "vpc"


def test_vmdk_is_stream_optimized() -> None:
    assert "subformat=streamOptimized,adapter_type=ide" in argv.vmdk(RAW, Path("o.vmdk"))


def test_gce_tar_layout_and_reproducibility_flags() -> None:
    tar = argv.gce_tar(Path("/w"))
    for flag in ("--format=oldgnu", "--sparse", "--no-xattrs", "--no-acls", "--no-selinux"):
        assert flag in tar
    for flag in ("--mtime=@0", "--owner=0", "--group=0", "--numeric-owner"):
        assert flag in tar
    assert tar[-3:] == ["-C", "/w", "disk.raw"]
    assert argv.pigz(3, 6) == ["pigz", "-c", "-n", "-6", "-p3"]


def test_ova_tar_keeps_member_order() -> None:
    tar = argv.ova_tar(Path("/w"), ["a.ovf", "a.mf", "a.vmdk"], Path("/o/a.ova"), "gnu")
    assert tar[-4:] == ["--", "a.ovf", "a.mf", "a.vmdk"]
    assert "--format=gnu" in tar and "--file=/o/a.ova" in tar and "--mtime=@0" in tar


def test_xz_is_single_threaded() -> None:
    assert argv.xz(RAW) == ["xz", "-c", "-6", "-T1", "/d/disk.raw"]


def test_compare_formats() -> None:
    assert argv.qemu_compare(RAW, "o.vhd", "vpc") == [
        "qemu-img", "compare", "-q", "-f", "raw", "-F", "vpc", "/d/disk.raw", "o.vhd",
    ]  # fmt: skip
    assert "-F" not in argv.qemu_compare(RAW, "json:{}", None)


def test_vmdk_in_tar_json() -> None:
    name = argv.vmdk_in_tar(Path("/o/a.ova"), 1536, 4096)
    assert name.startswith("json:")
    spec = json.loads(name[5:])
    assert spec["driver"] == "vmdk"
    assert spec["file"] == {
        "driver": "raw",
        "offset": 1536,
        "size": 4096,
        "file": {"driver": "file", "filename": "/o/a.ova"},
    }


def test_compare_windows() -> None:
    node: argv.Node = {"driver": "vmdk", "file": {"driver": "file", "filename": "/o/a.vmdk"}}
    command = argv.qemu_compare_windows(RAW, node, 1 << 20, 4096)
    assert command[:3] == ["qemu-img", "compare", "-q"]
    left, right = (json.loads(name[5:]) for name in command[3:])
    assert left == {
        "driver": "raw",
        "offset": 1 << 20,
        "size": 4096,
        "file": {"driver": "file", "filename": "/d/disk.raw"},
    }
    assert right == {"driver": "raw", "offset": 1 << 20, "size": 4096, "file": node}
