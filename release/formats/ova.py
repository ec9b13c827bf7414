"""The OVA: an OVF 1.0 descriptor, a manifest and a streamOptimized VMDK in one tar.

Building the descriptor and manifest and choosing the tar format are pure; `check_ova`
reads a finished OVA back and proves its structure.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from release.errors import VerificationError

OVF_NS = "http://schemas.dmtf.org/ovf/envelope/1"
RASD_NS = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
VSSD_NS = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
VMDK_FORMAT = "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"
NETWORK = "VM Network"
USTAR_MAX = 8**11 - 1  # the 11 octal digits of a ustar size field: just under 8 GiB
_CHUNK = 1 << 20
_MANIFEST_LINE = re.compile(r"(SHA1|SHA256)\(([^()]+)\)= ([0-9a-f]+)")

for _prefix, _uri in (("ovf", OVF_NS), ("rasd", RASD_NS), ("vssd", VSSD_NS)):
    ET.register_namespace(_prefix, _uri)


@dataclass(frozen=True)
class Machine:
    """What the descriptor says about the virtual machine and its disk."""

    name: str
    product: str
    version: str
    cpus: int
    memory_mib: int
    disk_file: str
    disk_file_size: int
    capacity: int


def member_names(basename: str) -> list[str]:
    """Descriptor first, manifest second, then the disk: the order OVF readers expect."""
    return [f"{basename}.ovf", f"{basename}.mf", f"{basename}.vmdk"]


def tar_format(member_sizes: Iterable[int]) -> str:
    """ustar where every member fits (most readers), GNU where a member is 8 GiB or more."""
    return "ustar" if all(size <= USTAR_MAX for size in member_sizes) else "gnu"


def _o(tag: str) -> str:
    return f"{{{OVF_NS}}}{tag}"


def _sub(parent: ET.Element, ns: str, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ns}}}{tag}")
    if text is not None:
        element.text = text
    return element


def _item(hardware: ET.Element, fields: dict[str, str]) -> None:
    item = _sub(hardware, OVF_NS, "Item")
    for key in sorted(fields):  # the CIM schema's sequences are in alphabetical order
        _sub(item, RASD_NS, key, fields[key])


def descriptor(machine: Machine) -> bytes:
    """The OVF 1.0 descriptor (no timestamps, so the same inputs give the same bytes)."""
    envelope = ET.Element(_o("Envelope"), {_o("version"): "1.0"})
    references = _sub(envelope, OVF_NS, "References")
    ET.SubElement(
        references,
        _o("File"),
        {
            _o("href"): machine.disk_file,
            _o("id"): "file1",
            _o("size"): str(machine.disk_file_size),
        },
    )
    disks = _sub(envelope, OVF_NS, "DiskSection")
    _sub(disks, OVF_NS, "Info", "Virtual disk information")
    ET.SubElement(
        disks,
        _o("Disk"),
        {
            _o("capacity"): str(machine.capacity),
            _o("capacityAllocationUnits"): "byte",
            _o("diskId"): "vmdisk1",
            _o("fileRef"): "file1",
            _o("format"): VMDK_FORMAT,
        },
    )
    networks = _sub(envelope, OVF_NS, "NetworkSection")
    _sub(networks, OVF_NS, "Info", "The list of logical networks")
    network = ET.SubElement(networks, _o("Network"), {_o("name"): NETWORK})
    _sub(network, OVF_NS, "Description", f"The {NETWORK} network")
    _virtual_system(envelope, machine)
    ET.indent(envelope)
    text: bytes = ET.tostring(envelope, encoding="utf-8", xml_declaration=True)
    return text + b"\n"


def _virtual_system(envelope: ET.Element, machine: Machine) -> None:
    system = ET.SubElement(envelope, _o("VirtualSystem"), {_o("id"): machine.name})
    _sub(system, OVF_NS, "Info", "A virtual machine")
    _sub(system, OVF_NS, "Name", machine.name)
    os_section = ET.SubElement(system, _o("OperatingSystemSection"), {_o("id"): "101"})
    _sub(os_section, OVF_NS, "Info", "The kind of installed guest operating system")
    _sub(os_section, OVF_NS, "Description", "Linux 2.6.x 64-Bit")
    product = _sub(system, OVF_NS, "ProductSection")
    _sub(product, OVF_NS, "Info", "Information about the installed software")
    _sub(product, OVF_NS, "Product", machine.product)
    _sub(product, OVF_NS, "Version", machine.version)
    _hardware(system, machine)


# The IDE controller, the disk on it and the NIC: the same in every image.
_FIXED_ITEMS: tuple[dict[str, str], ...] = (
    {
        "Address": "0",
        "Description": "IDE Controller",
        "ElementName": "ideController0",
        "InstanceID": "3",
        "ResourceType": "5",
    },
    {
        "AddressOnParent": "0",
        "ElementName": "disk0",
        "HostResource": "ovf:/disk/vmdisk1",
        "InstanceID": "4",
        "Parent": "3",
        "ResourceType": "17",
    },
    {
        "AutomaticAllocation": "true",
        "Connection": NETWORK,
        "ElementName": "ethernet0",
        "InstanceID": "5",
        "ResourceSubType": "E1000",
        "ResourceType": "10",
    },
)


def _hardware(system: ET.Element, machine: Machine) -> None:
    """The VirtualHardwareSection: CPUs, memory, one IDE disk and one E1000 NIC."""
    hardware = _sub(system, OVF_NS, "VirtualHardwareSection")
    _sub(hardware, OVF_NS, "Info", "Virtual hardware requirements")
    settings = _sub(hardware, OVF_NS, "System")
    _sub(settings, VSSD_NS, "ElementName", "Virtual Hardware Family")
    _sub(settings, VSSD_NS, "InstanceID", "0")
    _sub(settings, VSSD_NS, "VirtualSystemIdentifier", machine.name)
    _sub(settings, VSSD_NS, "VirtualSystemType", "vmx-07")
    _item(
        hardware,
        {
            "AllocationUnits": "hertz * 10^6",
            "Description": "Number of Virtual CPUs",
            "ElementName": f"{machine.cpus} virtual CPU(s)",
            "InstanceID": "1",
            "ResourceType": "3",
            "VirtualQuantity": str(machine.cpus),
        },
    )
    _item(
        hardware,
        {
            "AllocationUnits": "byte * 2^20",
            "Description": "Memory Size",
            "ElementName": f"{machine.memory_mib} MB of memory",
            "InstanceID": "2",
            "ResourceType": "4",
            "VirtualQuantity": str(machine.memory_mib),
        },
    )
    for item in _FIXED_ITEMS:
        _item(hardware, item)


def manifest(digests: dict[str, dict[str, str]], sha1: bool) -> bytes:
    """`SHA256(name)= hex` per file (and `SHA1(name)= hex` when asked), in the given order."""
    lines = []
    for name, by_algo in digests.items():
        lines.append(f"SHA256({name})= {by_algo['sha256']}")
        if sha1:
            lines.append(f"SHA1({name})= {by_algo['sha1']}")
    return ("\n".join(lines) + "\n").encode()


def parse_manifest(text: str) -> list[tuple[str, str, str]]:
    """(algorithm, file name, hex digest) per line; a malformed line is a ValueError."""
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        match = _MANIFEST_LINE.fullmatch(line.strip())
        if not match:
            raise ValueError(f"manifest line {number} is not 'SHA256(name)= hex': {line!r}")
        algo, name, hexdigest = match.groups()
        entries.append((algo.lower(), name, hexdigest))
    return entries


def file_digests(path: Path, sha1: bool) -> dict[str, str]:
    with path.open("rb") as f:
        return _digests(f.read, sha1)


def _digests(read: Callable[[int], bytes], sha1: bool) -> dict[str, str]:
    """SHA-256 (and SHA-1 when asked) in one read pass."""
    hashes = {"sha256": hashlib.sha256()}
    if sha1:
        hashes["sha1"] = hashlib.sha1()  # noqa: S324 - what old vSphere reads
    while chunk := read(_CHUNK):
        for digest in hashes.values():
            digest.update(chunk)
    return {name: digest.hexdigest() for name, digest in hashes.items()}


@dataclass(frozen=True)
class OvaDisk:
    """Where the VMDK sits inside the OVA, for reading it in place."""

    offset: int
    size: int


def check_ova(path: Path, basename: str, capacity: int, sha1: bool) -> OvaDisk:
    """Prove the OVA's structure; VerificationError names what is wrong."""
    try:
        return _check_ova(path, basename, capacity, sha1)
    except (tarfile.TarError, ET.ParseError, ValueError, KeyError) as exc:
        raise VerificationError(f"{path}: not a valid OVA: {exc}") from exc


def _check_ova(path: Path, basename: str, capacity: int, sha1: bool) -> OvaDisk:
    ovf_name, mf_name, vmdk_name = expected = member_names(basename)
    with tarfile.open(path, "r:") as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        if names != expected or not all(m.isreg() for m in members):
            raise ValueError(f"members are {names}, expected the files {expected} in that order")
        by_name = {m.name: m for m in members}
        ovf_bytes = _read(tar, by_name[ovf_name])
        _check_descriptor(ovf_bytes, vmdk_name, by_name[vmdk_name].size, capacity)
        entries = parse_manifest(_read(tar, by_name[mf_name]).decode())
        wanted = {("sha256", ovf_name), ("sha256", vmdk_name)}
        if sha1:
            wanted |= {("sha1", ovf_name), ("sha1", vmdk_name)}
        missing = wanted - {(algo, name) for algo, name, _ in entries}
        if missing:
            raise ValueError(f"the manifest lacks {sorted(missing)}")
        need_sha1 = any(algo == "sha1" for algo, _, _ in entries)
        actual = {
            name: _digests(_reader(tar, by_name[name]), need_sha1) for name in (ovf_name, vmdk_name)
        }
        for algo, name, hexdigest in entries:
            if name not in actual or actual[name].get(algo) != hexdigest:
                raise ValueError(f"the manifest's {algo.upper()} of {name} does not match")
        disk = by_name[vmdk_name]
        return OvaDisk(disk.offset_data, disk.size)


def _check_descriptor(ovf: bytes, vmdk_name: str, vmdk_size: int, capacity: int) -> None:
    root = ET.fromstring(ovf)  # noqa: S314 - our own output, just written
    files = root.findall(f"{_o('References')}/{_o('File')}")
    if len(files) != 1:
        raise ValueError(f"the descriptor references {len(files)} files, expected 1")
    href, size = files[0].get(_o("href")), files[0].get(_o("size"))
    if href != vmdk_name or size != str(vmdk_size):
        raise ValueError(
            f"the descriptor names {href} of {size} bytes, the disk is {vmdk_name}"
            f" of {vmdk_size} bytes"
        )
    disk = root.find(f"{_o('DiskSection')}/{_o('Disk')}")
    if disk is None or disk.get(_o("capacity")) != str(capacity):
        raise ValueError(f"the descriptor's disk capacity is not {capacity} bytes")
    if root.find(f"{_o('VirtualSystem')}/{_o('VirtualHardwareSection')}") is None:
        raise ValueError("the descriptor has no VirtualSystem with virtual hardware")


def _reader(tar: tarfile.TarFile, member: tarfile.TarInfo) -> Callable[[int], bytes]:
    handle = tar.extractfile(member)
    if handle is None:
        raise ValueError(f"{member.name} is not a regular file")
    return handle.read


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    return _reader(tar, member)(-1)
