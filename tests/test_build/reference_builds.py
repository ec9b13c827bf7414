"""The builds test_reference.py reads: the cases (EL, variant, builder, template values) and
each case's image built once per session, with the installroot builder or through the
kickstart and the fake installer that carries it out, and read back from the raw disk."""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from release.build.builder import build
from tests.test_build.conftest import BASE_PACKAGES, definition
from tests.test_build.diskview import dump_root

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

    def value(self, name: str, default: Any) -> Any:
        return self.overrides.get(name, default)

    @property
    def id(self) -> str:
        kind = "overrides" if self.overrides else "defaults"
        return f"el{self.el}-{self.variant}-{self.builder}-{kind}"


CASES = (
    *(Case(el, v) for el in (6, 7) for v in VARIANTS),
    *(Case(el, "aws", overrides=OVERRIDES) for el in (6, 7)),
    *(Case(el, "cloudstack", builder="kickstart") for el in (6, 7)),
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
        extra["builder"] = "kickstart"
    image = definition(repos[case.el], case.el, **extra)
    log = tmp / "installer.jsonl"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", f"{fake_bin}:{os.environ['PATH']}")
        patch.setenv("FAKE_LOG", str(log))
        patch.setenv("FAKE_DISK", "install")
        result = build(image, case.variant, tmp / "out", tmp / "cache")
    ks = json.loads(log.read_text().splitlines()[0])["kickstart"] if log.exists() else ""
    packages = {line.split()[0] for line in result.manifest_path.read_text().splitlines()}
    root = dump_root(result.raw_path, tmp / "root")
    return Built(case, root, result.raw_path, packages, ks)


def fake_installer_bin(folder: Path) -> Path:
    """`folder` with the fake installer as livemedia-creator, to put first on PATH."""
    script = folder / "livemedia-creator"
    script.write_text(f"#!{sys.executable}\n" + FAKE.read_text())
    script.chmod(0o755)
    return folder
