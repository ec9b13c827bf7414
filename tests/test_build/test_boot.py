"""The proof that partition table, filesystem and bootloader work: the built raw image boots
in QEMU (software emulation, no KVM) through the GRUB on its own disk (no -kernel), its
initramfs finds the root by the UUID in grub.cfg, and the image's init prints a marker."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from release.build.builder import build, root_uuid
from release.demo.bootkit import kernel_rpm
from release.model.template import EL
from tests.fixtures.rpmrepo import build_repo
from tests.test_build.conftest import definition

MARKER = "IMAGE-RELEASE-BOOT-MARKER"


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kernel_rpm(tmp_path_factory.mktemp("boot-kernel"), ".fixture")


def boot(raw: Path) -> str:
    argv = [
        "qemu-system-x86_64",
        "-accel",
        "tcg",  # KVM is present here but hangs
        "-m",
        "512",
        "-nographic",
        "-no-reboot",
        "-net",
        "none",
        "-drive",
        f"file={raw},format=raw,if=virtio",
        "-snapshot",
    ]
    done = subprocess.run(argv, capture_output=True, timeout=180, check=False)
    return done.stdout.decode(errors="replace")


@pytest.mark.slow
@pytest.mark.parametrize("el", [6, 7])
def test_the_image_boots_through_its_own_bootloader(kernel: Path, tmp_path: Path, el: EL) -> None:
    (tmp_path / "repo").mkdir()
    repo = build_repo(tmp_path / "repo", f".el{el}", (kernel,))
    image = definition(
        repo, el, packages=["filesystem", "busybox", "boot-kernel", "policycoreutils"]
    )
    result = build(image, "openstack", tmp_path / "out", tmp_path / "cache")
    console = boot(result.raw_path)
    assert MARKER in console, console[-3000:]
    assert "initramfs: root UUID=" in console and "is /dev/vda1" in console
    command_line = next(line for line in console.splitlines() if "Command line:" in line)
    assert f"root=UUID={root_uuid(result.build_id)} ro" in command_line  # grub.cfg's entry
    assert ("net.ifnames=0" in command_line) == (el == 7)
