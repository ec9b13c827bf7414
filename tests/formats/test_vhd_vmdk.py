"""Footer and descriptor fix-ups, on files made by the real qemu-img."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from release.formats import argv, vhd, vmdk

from .conftest import MIB, qemu_img

DIGEST = bytes(range(32))


def _vhd(raw: Path, out: Path, size: int) -> Path:
    subprocess.run(argv.vhd_create(out, size), check=True)
    subprocess.run(argv.vhd_fill(raw, out), check=True)
    return out


def test_qemu_footer_checksum_is_understood(small_disk: Path, tmp_path: Path) -> None:
    out = _vhd(small_disk, tmp_path / "a.vhd", 49 * MIB)
    footer = vhd.read_footer(out)
    assert footer.checksum_ok
    assert footer.disk_type == vhd.DISK_TYPE_FIXED
    assert footer.current_size == 49 * MIB


def test_fixed_footer_is_reproducible_and_still_readable(small_disk: Path, tmp_path: Path) -> None:
    a = _vhd(small_disk, tmp_path / "a.vhd", 49 * MIB)
    b = _vhd(small_disk, tmp_path / "b.vhd", 49 * MIB)
    assert a.read_bytes()[-512:] != b.read_bytes()[-512:]  # qemu-img's UUIDs are random
    for path in (a, b):
        vhd.make_reproducible(path, DIGEST)
        assert vhd.read_footer(path).checksum_ok
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes()[-512 + 24 : -512 + 28] == bytes(4)  # timestamp
    result = qemu_img("compare", "-f", "raw", "-F", "vpc", str(small_disk), str(a))
    assert result.returncode == 0, result.stdout + result.stderr
    vhd.make_reproducible(b, bytes(32))
    assert a.read_bytes()[-512:] != b.read_bytes()[-512:]  # another content, another UUID


def test_footer_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="conectix"):
        vhd.parse_footer(bytes(512))
    with pytest.raises(ValueError):
        vhd.fixed_footer(bytes(511), DIGEST)


def test_broken_checksum_is_seen(small_disk: Path, tmp_path: Path) -> None:
    out = _vhd(small_disk, tmp_path / "a.vhd", 49 * MIB)
    footer = bytearray(out.read_bytes()[-512:])
    footer[100] ^= 1
    assert not vhd.parse_footer(bytes(footer)).checksum_ok


def test_vmdk_cid_is_derived_in_place(small_disk: Path, tmp_path: Path) -> None:
    # Same file name: the descriptor names its extent file.
    (tmp_path / "1").mkdir()
    (tmp_path / "2").mkdir()
    a, b = tmp_path / "1" / "d.vmdk", tmp_path / "2" / "d.vmdk"
    for path in (a, b):
        subprocess.run(argv.vmdk(small_disk, path), check=True)
    assert a.read_bytes() != b.read_bytes()  # random CIDs
    size = a.stat().st_size
    for path in (a, b):
        vmdk.make_reproducible(path, DIGEST)
    assert a.read_bytes() == b.read_bytes()
    assert a.stat().st_size == size
    assert b"CID=" + vmdk.derived_cid(DIGEST) + b"\n" in a.read_bytes()[:4096]
    assert qemu_img("check", "-f", "vmdk", str(a)).returncode == 0
    result = qemu_img("compare", "-f", "raw", "-F", "vmdk", str(small_disk), str(a))
    assert result.returncode == 0, result.stdout + result.stderr


def test_vmdk_helpers_reject_garbage() -> None:
    with pytest.raises(ValueError, match="KDMV"):
        vmdk.descriptor_span(bytes(512))
    with pytest.raises(ValueError, match="CID"):
        vmdk.with_cid(b"version=1\n", b"12345678")
    assert vmdk.with_cid(b"version=1\nCID=0badf00d\nx", b"12345678") == (
        b"version=1\nCID=12345678\nx"
    )
    # qemu-img prints the CID unpadded: a shorter one must be found and replaced too.
    area = b"version=1\nCID=badf00d\nx" + bytes(8)
    assert vmdk.with_cid(area, b"12345678") == b"version=1\nCID=12345678\nx" + bytes(7)
    with pytest.raises(ValueError, match="too small"):
        vmdk.with_cid(b"CID=1\n", b"12345678")
