"""The builds test_reference.py reads: the cases (EL, variant, builder, template values) and
each case's image built once per session, with the installroot builder, through the
kickstart and the fake installer that carries it out on the host (as livemedia-creator), or
through the kickstart and `installer: qemu` booting the stand-in installer
(tests/imaging/standin.py) in QEMU; read back from the raw disk."""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from release.imaging import kickstart, kickstart_builder
from release.imaging.builder import build
from release.imaging.qemu_builder import QemuOptions
from release.model.image import ImageDefinition
from tests.imaging import standin
from tests.imaging.conftest import BASE_PACKAGES, definition
from tests.imaging.diskview import dump_root

FAKE = Path(__file__).parent / "fake_installer.py"
VARIANTS = ("openstack", "cloudstack", "aws", "gce")
PACKAGES = (
    *BASE_PACKAGES,
    "policycoreutils",
    "systemd",
    "chkconfig",
    "service-units",
    "rsyslog",
    "kexec-tools",
    "dracut",
    "kernel-modules",
    "installer-leftovers",
    "setup",
)
# Every value differs from the default, so a feature that ignores its field fails.
OVERRIDES: dict[str, Any] = {
    "growroot": False,
    "tso_gso_off": True,
    "persistent_dhclient": False,
    "selinux": "permissive",
    "relabel": "first-boot",
    "paravirt_drivers": ["virtio_blk", "virtio_net"],
    "login": "password",
    "cloud_user": "cloud",
    "timezone": "Europe/Paris",
    "hostname": "cloudy",
    "lang": "de_DE.UTF-8",
    "keyboard": "de",
    "tuned_profile": "throughput-performance",
    "ntp": False,
}


@dataclass(frozen=True)
class Case:
    el: int
    variant: str
    builder: str = "installroot"
    overrides: dict[str, Any] = field(default_factory=dict)
    installer: str = "livemedia-creator"  # with builder: kickstart

    def value(self, name: str, default: Any) -> Any:
        return self.overrides.get(name, default)

    @property
    def id(self) -> str:
        kind = "overrides" if self.overrides else "defaults"
        builder = "qemu" if self.installer == "qemu" else self.builder
        return f"el{self.el}-{self.variant}-{builder}-{kind}"


CASES = (
    *(Case(el, v) for el in (6, 7) for v in VARIANTS),
    *(Case(el, "aws", overrides=OVERRIDES) for el in (6, 7)),
    *(Case(el, "cloudstack", builder="kickstart") for el in (6, 7)),
    *(Case(el, "openstack", builder="kickstart", installer="qemu") for el in (6, 7)),
)


@dataclass
class Built:
    case: Case
    root: Path
    raw: Path
    packages: set[str]
    kickstart: str

    def at(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def text(self, path: str) -> str:
        return self.at(path).read_text()

    def link(self, path: str) -> str | None:
        return str(self.at(path).readlink()) if self.at(path).is_symlink() else None

    def lines(self, path: str) -> list[str]:
        return self.text(path).splitlines()

    def cmdline(self) -> str:
        """Kernel arguments: the GRUB menu the installroot builder wrote, or the kickstart's
        bootloader line (anaconda writes the menu from it)."""
        if self.case.builder == "kickstart":
            return re.search(r'^bootloader .*--append="([^"]*)"', self.kickstart, re.M)[1]  # type: ignore[index]
        menus = ("/boot/grub2/grub.cfg", "/boot/grub/grub.conf", "/boot/grub/grub.cfg")
        menu = next(self.text(m) for m in menus if self.at(m).is_file())
        return " ".join(line for line in menu.splitlines() if "vmlinuz" in line)


def build_case(case: Case, repos: dict[int, Path], tmp: Path, fake_bin: Path) -> Built:
    """Build `case`'s image (the kickstart builder runs the fake installer in `fake_bin`)."""
    extra: dict[str, Any] = {"packages": list(PACKAGES), "template": case.overrides}
    if case.builder == "kickstart":
        extra |= {"builder": "kickstart", "installer": case.installer}
    image = definition(repos[case.el], case.el, **extra)
    if case.installer == "qemu" and case.builder == "kickstart":
        return _build_in_qemu(case, image, tmp)
    log = tmp / "installer.jsonl"
    el_host = tmp / "os-release"
    el_host.write_text("ID=centos\nID_LIKE='rhel fedora'\n")  # livemedia-creator's host
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kickstart_builder, "OS_RELEASE", el_host)
        patch.setenv("PATH", f"{fake_bin}:{os.environ['PATH']}")
        patch.setenv("FAKE_LOG", str(log))
        patch.setenv("FAKE_DISK", "install")
        result = build(image, case.variant, tmp / "out", tmp / "cache")
    ks = json.loads(log.read_text().splitlines()[0])["kickstart"] if log.exists() else ""
    packages = {line.split()[0] for line in result.manifest_path.read_text().splitlines()}
    root = dump_root(result.raw_path, tmp / "root")
    return Built(case, root, result.raw_path, packages, ks)


def _build_in_qemu(case: Case, image: ImageDefinition, tmp: Path) -> Built:
    root, packages = standin.root_tar(image, case.variant, tmp)
    kernel = standin.kernel(tmp / "kernel")
    tree = standin.install_tree(tmp / "tree", kernel, root, packages, case.el)
    image = image.model_copy(update={"install_tree": str(tree)})
    options = QemuOptions(accel="tcg", deadline=300)  # this machine's KVM hangs its guests
    result = build(image, case.variant, tmp / "out", tmp / "cache", options=options)
    packages_in = {line.split()[0] for line in result.manifest_path.read_text().splitlines()}
    root_dump = dump_root(result.raw_path, tmp / "root")
    ks = kickstart.render_valid(image, case.variant)
    return Built(case, root_dump, result.raw_path, packages_in, ks)


def fake_installer_bin(folder: Path) -> Path:
    """`folder` with the fake installer as livemedia-creator, to put first on PATH."""
    script = folder / "livemedia-creator"
    script.write_text(f"#!{sys.executable}\n" + FAKE.read_text())
    script.chmod(0o755)
    return folder
