from __future__ import annotations

import hashlib
import subprocess
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from release.errors import VerificationError
from release.formats import argv, ova
from release.formats.options import GIB

MACHINE = ova.Machine(
    name="c7",
    product="CentOS 7",
    version="7.9.2009",
    cpus=2,
    memory_mib=2048,
    disk_file="c7.vmdk",
    disk_file_size=12345,
    capacity=8 * GIB,
)
NS = {"ovf": ova.OVF_NS, "rasd": ova.RASD_NS}


def test_descriptor_has_the_machine() -> None:
    root = ET.fromstring(ova.descriptor(MACHINE))  # noqa: S314 - our own output
    assert root.get(f"{{{ova.OVF_NS}}}version") == "1.0"
    file = root.find("ovf:References/ovf:File", NS)
    assert file is not None
    assert file.get(f"{{{ova.OVF_NS}}}href") == "c7.vmdk"
    assert file.get(f"{{{ova.OVF_NS}}}size") == "12345"
    disk = root.find("ovf:DiskSection/ovf:Disk", NS)
    assert disk is not None and disk.get(f"{{{ova.OVF_NS}}}capacity") == str(8 * GIB)
    system = root.find("ovf:VirtualSystem", NS)
    assert system is not None
    assert system.findtext("ovf:ProductSection/ovf:Product", namespaces=NS) == "CentOS 7"
    assert system.findtext("ovf:ProductSection/ovf:Version", namespaces=NS) == "7.9.2009"
    items = {
        item.findtext("rasd:ResourceType", namespaces=NS): item
        for item in system.findall("ovf:VirtualHardwareSection/ovf:Item", NS)
    }
    assert set(items) == {"3", "4", "5", "17", "10"}  # cpu, memory, IDE, disk, NIC
    assert items["3"].findtext("rasd:VirtualQuantity", namespaces=NS) == "2"
    assert items["4"].findtext("rasd:VirtualQuantity", namespaces=NS) == "2048"
    assert items["17"].findtext("rasd:HostResource", namespaces=NS) == "ovf:/disk/vmdisk1"
    assert items["17"].findtext("rasd:Parent", namespaces=NS) == "3"
    assert b"1970" not in ova.descriptor(MACHINE)


def test_descriptor_is_deterministic() -> None:
    assert ova.descriptor(MACHINE) == ova.descriptor(MACHINE)


def test_manifest_round_trip() -> None:
    digests = {"a.ovf": {"sha256": "aa", "sha1": "bb"}, "a.vmdk": {"sha256": "cc", "sha1": "dd"}}
    text = ova.manifest(digests, sha1=False).decode()
    assert text == "SHA256(a.ovf)= aa\nSHA256(a.vmdk)= cc\n"
    entries = ova.parse_manifest(ova.manifest(digests, sha1=True).decode())
    assert ("sha1", "a.vmdk", "dd") in entries and len(entries) == 4
    with pytest.raises(ValueError, match="line 1"):
        ova.parse_manifest("SHA256 (a.ovf) = aa\n")


def test_tar_format_switches_at_8_gib() -> None:
    assert ova.tar_format([100, 8 * GIB - 1]) == "ustar"
    assert ova.tar_format([100, 8 * GIB]) == "gnu"


def _ova(tmp_path: Path, members: dict[str, bytes], order: list[str], fmt: str = "ustar") -> Path:
    work = tmp_path / "w"
    work.mkdir(exist_ok=True)
    for name, data in members.items():
        (work / name).write_bytes(data)
    out = tmp_path / "x.ova"
    subprocess.run(argv.ova_tar(work, order, out, fmt), check=True)
    return out


def _digests(data: bytes) -> dict[str, str]:
    return {
        "sha256": hashlib.sha256(data).hexdigest(),
        "sha1": hashlib.sha1(data).hexdigest(),  # noqa: S324 - what old vSphere reads
    }


def _members(sha1: bool = False) -> dict[str, bytes]:
    disk = b"pretend vmdk" * 100
    machine = ova.Machine(**{**MACHINE.__dict__, "disk_file_size": len(disk)})
    descriptor = ova.descriptor(machine)
    digests = {"c7.ovf": _digests(descriptor), "c7.vmdk": _digests(disk)}
    return {"c7.ovf": descriptor, "c7.mf": ova.manifest(digests, sha1), "c7.vmdk": disk}


def test_check_accepts_a_good_ova(tmp_path: Path) -> None:
    out = _ova(tmp_path, _members(sha1=True), ova.member_names("c7"))
    disk = ova.check_ova(out, "c7", 8 * GIB, sha1=True)
    with tarfile.open(out) as tar:
        assert disk.offset == tar.getmember("c7.vmdk").offset_data
    assert disk.size == 1200


def test_check_rejects_wrong_order(tmp_path: Path) -> None:
    out = _ova(tmp_path, _members(), ["c7.ovf", "c7.vmdk", "c7.mf"])
    with pytest.raises(VerificationError, match="in that order"):
        ova.check_ova(out, "c7", 8 * GIB, sha1=False)


def test_check_rejects_a_tampered_disk(tmp_path: Path) -> None:
    members = _members()
    members["c7.vmdk"] = members["c7.vmdk"].replace(b"pretend", b"PRETEND")
    out = _ova(tmp_path, members, ova.member_names("c7"))
    with pytest.raises(VerificationError, match=r"SHA256 of c7.vmdk does not match"):
        ova.check_ova(out, "c7", 8 * GIB, sha1=False)


def test_check_rejects_a_missing_sha1_and_a_wrong_capacity(tmp_path: Path) -> None:
    out = _ova(tmp_path, _members(sha1=False), ova.member_names("c7"))
    with pytest.raises(VerificationError, match="lacks"):
        ova.check_ova(out, "c7", 8 * GIB, sha1=True)
    with pytest.raises(VerificationError, match="capacity"):
        ova.check_ova(out, "c7", 4 * GIB, sha1=False)


def test_check_rejects_a_descriptor_naming_another_size(tmp_path: Path) -> None:
    members = _members()
    members["c7.vmdk"] += b"x"
    digests = {n: _digests(members[n]) for n in ("c7.ovf", "c7.vmdk")}
    members["c7.mf"] = ova.manifest(digests, sha1=False)
    out = _ova(tmp_path, members, ova.member_names("c7"))
    with pytest.raises(VerificationError, match=r"bytes, the disk is c7\.vmdk of 1201"):
        ova.check_ova(out, "c7", 8 * GIB, sha1=False)


def test_check_rejects_what_is_not_a_tar(tmp_path: Path) -> None:
    path = tmp_path / "x.ova"
    path.write_bytes(b"no tar here" * 100)
    with pytest.raises(VerificationError, match="not a valid OVA"):
        ova.check_ova(path, "c7", GIB, sha1=False)


def test_chosen_tar_format_holds_a_9_gib_disk(tmp_path: Path) -> None:
    """Only the headers are read: tar is killed once the big member's header has been seen,
    so this takes milliseconds and writes nothing to disk."""
    work = tmp_path / "w"
    work.mkdir()
    (work / "c7.ovf").write_bytes(b"<x/>")
    (work / "c7.mf").write_bytes(b"")
    with (work / "c7.vmdk").open("wb") as f:
        f.truncate(9 * GIB)  # sparse: costs nothing on disk
    names = ova.member_names("c7")
    fmt = ova.tar_format((work / name).stat().st_size for name in names)
    assert fmt == "gnu"
    for tar_format, holds in ((fmt, True), ("ustar", False)):
        command = argv.ova_tar(work, names, Path("-"), tar_format)
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                seen = [tar.next() for _ in range(3)]
        except tarfile.ReadError:
            seen = []
        finally:
            proc.kill()
            proc.wait()
            proc.stdout.close()
            assert proc.stderr is not None
            proc.stderr.close()
        if holds:
            assert [m.name for m in seen if m] == names
            assert seen[2] is not None and seen[2].size == 9 * GIB
        else:
            assert [m.name for m in seen if m] == names[:2]  # ustar drops the big member
