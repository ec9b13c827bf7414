"""Hostile OVA and GCE archives: every one is refused with our own error, nothing escapes."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from release.errors import VerificationError
from release.formats import gce, ova
from release.formats.options import GIB
from tests.hostile.conftest import Canary

pytestmark = pytest.mark.chaos

BASENAME = "img-1.0-vmware"
Member = tuple[tarfile.TarInfo, bytes | None]
Build = Callable[[Canary], list[Member]]


def info(
    name: str, kind: bytes = tarfile.REGTYPE, link: str = "", size: int = 0
) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type, member.linkname, member.size = kind, link, size
    return member


def file(name: str, data: bytes) -> Member:
    return info(name, size=len(data)), data


def special(name: str, kind: bytes, link: str = "") -> Member:
    return info(name, kind, link), None


def append(archive: Path, members: list[Member]) -> None:
    with tarfile.open(archive, "a", format=tarfile.GNU_FORMAT) as tar:
        for member, data in members:
            tar.addfile(member, io.BytesIO(data) if data is not None else None)


def huge(name: str) -> bytes:
    """A tar header declaring a 1 TiB member, followed by a few bytes and the end."""
    header = info(name, size=1 << 40).tobuf(tarfile.GNU_FORMAT)
    return header + b"x" * 512


# Each case: what the archive holds after its leading members, and the message expected.
ESCAPES: dict[str, Build] = {
    "symlink out, then a file through it": lambda c: [
        special("esc", tarfile.SYMTYPE, str(c.path)),
        file("esc/pwned", b"evil"),
    ],
    "relative symlink out": lambda c: [
        special("up", tarfile.SYMTYPE, "../canary"),
        file("up/pwned", b"evil"),
    ],
    "dot-dot member": lambda c: [file("../canary/pwned", b"evil")],
    "deep dot-dot member": lambda c: [file("a/../../canary/pwned", b"evil")],
    "absolute member": lambda c: [file(f"{c.path}/pwned", b"evil")],
    "hard link to a file outside": lambda c: [special("h", tarfile.LNKTYPE, str(c.path / "x"))],
    "hard link climbing out": lambda c: [special("h", tarfile.LNKTYPE, "../canary/x")],
    "character device": lambda c: [special("dev", tarfile.CHRTYPE)],
    "block device": lambda c: [special("blk", tarfile.BLKTYPE)],
    "fifo": lambda c: [special("fifo", tarfile.FIFOTYPE)],
}


# ---------------------------------------------------------------- OVA


def _ova_parts() -> tuple[list[str], dict[str, bytes]]:
    names = ova.member_names(BASENAME)
    ovf_name, mf_name, vmdk_name = names
    vmdk = b"KDMV" + bytes(1020)
    machine = ova.Machine(
        name=BASENAME, product="img", version="1.0", cpus=1, memory_mib=512,
        disk_file=vmdk_name, disk_file_size=len(vmdk), capacity=GIB,
    )  # fmt: skip
    ovf = ova.descriptor(machine)
    digests = {
        n: ova._digests(io.BytesIO(d).read, True) for n, d in ((ovf_name, ovf), (vmdk_name, vmdk))
    }
    return names, {ovf_name: ovf, mf_name: ova.manifest(digests, sha1=True), vmdk_name: vmdk}


def _ova(path: Path, members: list[Member]) -> Path:
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        for member, data in members:
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
    return path


def _good_members() -> list[Member]:
    names, data = _ova_parts()
    return [file(n, data[n]) for n in names]


def test_the_good_ova_passes(canary: Canary) -> None:
    ova.check_ova(_ova(canary.work / "a.ova", _good_members()), BASENAME, GIB, sha1=True)


@pytest.mark.parametrize("case", sorted(ESCAPES))
def test_ova_with_extra_hostile_member(canary: Canary, case: str) -> None:
    archive = _ova(canary.work / "a.ova", _good_members() + ESCAPES[case](canary))
    with pytest.raises(
        VerificationError, match=r"not a valid OVA: members are .* expected the files"
    ):
        ova.check_ova(archive, BASENAME, GIB, sha1=True)


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE])
def test_ova_disk_replaced_by_a_link_or_device(canary: Canary, kind: bytes) -> None:
    members = _good_members()
    members[2] = special(members[2][0].name, kind, str(canary.path / "x"))
    with pytest.raises(VerificationError, match=r"members are .* expected the files"):
        ova.check_ova(_ova(canary.work / "a.ova", members), BASENAME, GIB, sha1=True)


def test_ova_with_duplicate_members(canary: Canary) -> None:
    members = _good_members()
    members.insert(2, members[1])
    with pytest.raises(VerificationError, match=r"members are .*mf.*mf"):
        ova.check_ova(_ova(canary.work / "a.ova", members), BASENAME, GIB, sha1=True)


def test_ova_member_declaring_a_huge_size(canary: Canary) -> None:
    archive = canary.work / "a.ova"
    _ova(archive, _good_members()[:2])
    data = archive.read_bytes()
    end = len(data) - 1024  # before the two zero blocks closing the archive
    archive.write_bytes(data[:end] + huge(f"{BASENAME}-disk1.vmdk"))
    with pytest.raises(VerificationError, match="not a valid OVA"):
        ova.check_ova(archive, BASENAME, GIB, sha1=True)


@pytest.mark.parametrize(
    ("junk", "message"),
    [
        (b"", "not a valid OVA"),
        (b"\x00" * 10240, "members are \\[\\]"),
        (b"PK\x03\x04" * 300, "not a valid OVA"),
    ],
)
def test_ova_that_is_not_a_tar(canary: Canary, junk: bytes, message: str) -> None:
    (canary.work / "a.ova").write_bytes(junk)
    with pytest.raises(VerificationError, match=message):
        ova.check_ova(canary.work / "a.ova", BASENAME, GIB, sha1=True)


def test_ova_manifest_naming_a_path_outside(canary: Canary) -> None:
    members = _good_members()
    bad = b"SHA256(../canary/x)= " + b"0" * 64 + b"\n" + members[1][1]  # type: ignore[operator]
    members[1] = file(members[1][0].name, bad)
    with pytest.raises(
        VerificationError, match=r"manifest's SHA256 of \.\./canary/x does not match"
    ):
        ova.check_ova(_ova(canary.work / "a.ova", members), BASENAME, GIB, sha1=True)


# ---------------------------------------------------------------- GCE

# GNU tar refuses `..` and links out itself; anything else it extracts (inside the scratch
# dir) is then refused by the member list check.
_EXTRA = "expected only disk.raw"
GCE_MESSAGES: dict[str, str] = {
    "absolute member": _EXTRA,
    "block device": "holds ['disk.raw', 'blk']",
    "character device": "holds ['disk.raw', 'dev']",
    "fifo": "holds ['disk.raw', 'fifo']",
    "deep dot-dot member": "tar refused it: tar: Removing leading `a/../../'",
    "dot-dot member": "pwned: Member name contains '..'",
    "hard link climbing out": "h: Cannot hard link to",
    "hard link to a file outside": "h: Cannot hard link to",
    "relative symlink out": "up/pwned: Cannot open: Not a directory",
    "symlink out, then a file through it": "esc/pwned: Cannot open: Not a directory",
}


@pytest.fixture(scope="module")
def gce_base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A raw disk of 1 GiB (sparse) and a good oldgnu tar of it, uncompressed."""
    base = tmp_path_factory.mktemp("gce")
    raw = base / "disk.raw"
    with raw.open("wb") as f:
        f.truncate(GIB)
        f.write(b"boot sector")
    tar = base / "base.tar"
    subprocess.run(
        ["tar", "--format=oldgnu", "-S", "-cf", str(tar), "-C", str(base), "disk.raw"], check=True
    )
    return raw, tar


def _gce(canary: Canary, base: Path, members: list[Member]) -> Path:
    plain = canary.work / "a.tar"
    shutil.copy(base, plain)
    append(plain, members)
    out = canary.work / "a.tar.gz"
    with out.open("wb") as fh:
        subprocess.run(["pigz", "-c", str(plain)], stdout=fh, check=True)
    return out


@pytest.mark.parametrize("case", sorted(ESCAPES))
def test_gce_with_extra_hostile_member(
    canary: Canary, gce_base: tuple[Path, Path], case: str
) -> None:
    raw, base = gce_base
    archive = _gce(canary, base, ESCAPES[case](canary))
    with pytest.raises(VerificationError, match=r"a.tar.gz: ") as caught:
        gce.check_archive(archive, raw, canary.work / "scratch")
    assert GCE_MESSAGES[case] in str(caught.value)


def test_gce_duplicate_disk_member_as_symlink(canary: Canary, gce_base: tuple[Path, Path]) -> None:
    raw, base = gce_base
    archive = _gce(canary, base, [special("disk.raw", tarfile.SYMTYPE, str(canary.path / "x"))])
    with pytest.raises(VerificationError, match=r"holds \['disk.raw', 'disk.raw'\]"):
        gce.check_archive(archive, raw, canary.work / "scratch")


def test_gce_first_member_a_symlink(canary: Canary, gce_base: tuple[Path, Path]) -> None:
    raw, _ = gce_base
    plain = canary.work / "a.tar"
    with tarfile.open(plain, "w", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(info("disk.raw", tarfile.SYMTYPE, str(canary.path / "x")))
    out = canary.work / "a.tar.gz"
    out.write_bytes(
        subprocess.run(["pigz", "-c", str(plain)], capture_output=True, check=True).stdout
    )
    with pytest.raises(VerificationError, match="not stored as an oldgnu sparse member"):
        gce.check_archive(out, raw, canary.work / "scratch")


def test_gce_header_declaring_a_huge_size(canary: Canary, gce_base: tuple[Path, Path]) -> None:
    raw, base = gce_base
    block = bytearray(base.read_bytes()[:512])
    block[483:495] = bytes([0x80]) + (1 << 60).to_bytes(11, "big")  # 1 EiB, whole GiB
    block[148:156] = b"        "
    block[148:156] = f"{sum(block):06o}\x00 ".encode()
    plain = canary.work / "a.tar"
    plain.write_bytes(bytes(block) + bytes(1024))
    out = canary.work / "a.tar.gz"
    out.write_bytes(
        subprocess.run(["pigz", "-c", str(plain)], capture_output=True, check=True).stdout
    )
    with pytest.raises(VerificationError, match=r"a\.tar\.gz: tar refused it: .*Unexpected EOF"):
        gce.check_archive(out, raw, canary.work / "scratch")
