"""The proof that partition table, filesystem and bootloader work, and that the bootloader
follows a kernel update made the way the image's own tools make it: the built raw image boots
in QEMU (software emulation: KVM is present here but unusable) through the GRUB on its own
disk (no -kernel), EL7's core.img made by the image's own GRUB; after grubby's edit (written
into the unmounted disk) the NEW kernel boots, and with that entry removed the build-time one
does; its initramfs finds the root by the UUID on the kernel command line, and the image's
init prints a marker."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from release.demo.bootkit import kernel_rpm
from release.imaging.builder import build, root_uuid
from release.model.template import EL
from tests.fixtures.rpmrepo import build_repo
from tests.imaging import diskview, grubby, owngrub
from tests.imaging.conftest import definition

MARKER = "IMAGE-RELEASE-BOOT-MARKER"
UPDATED = "image_release_test=updated-kernel"  # only on the entry the update adds


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kernel_rpm(tmp_path_factory.mktemp("boot-kernel"), ".fixture")


def boot(raw: Path) -> str:
    argv = [
        "qemu-system-x86_64",
        "-accel",
        "tcg",  # KVM is present here but hangs (or fails to set MSRs with -cpu host)
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


def kernel_line(console: str) -> str:
    return next(line for line in console.splitlines() if "Command line:" in line)


def update_kernel(raw: Path, el: EL, kver: str, work: Path) -> str:
    """A second kernel and initramfs in /boot and a new default entry in the file EL's grubby
    edits, as `yum update kernel` leaves them; returns the new entry's title."""
    new = f"{kver}.update"
    title = f"Updated ({new})"
    files = {
        f"/boot/vmlinuz-{new}": grubby.read(raw, f"/boot/vmlinuz-{kver}"),
        f"/boot/initramfs-{new}.img": grubby.read(raw, f"/boot/initramfs-{kver}.img"),
    }
    args = (f"vmlinuz-{new}", f"initramfs-{new}.img", title, UPDATED)
    if el == 7:
        env = grubby.read(raw, "/boot/grub2/grubenv")
        cfg = grubby.read(raw, "/boot/grub2/grub.cfg").decode()
        files["/boot/grub2/grub.cfg"] = grubby.add_el7(cfg, env, *args).encode()
        files["/boot/grub2/grubenv"] = grubby.envblock(title)
    else:
        conf = grubby.read(raw, "/boot/grub/grub.conf").decode()
        files["/boot/grub/grub.conf"] = grubby.add_el6(conf, *args).encode()
    grubby.write(raw, files, work)
    return title


def remove_entry(raw: Path, el: EL, title: str, work: Path) -> dict[str, bytes]:
    """`grubby --remove-kernel`: the entry out, the first entry the default again."""
    menu = "/boot/grub2/grub.cfg" if el == 7 else "/boot/grub/grub.conf"
    files = {menu: grubby.remove(grubby.read(raw, menu).decode(), title).encode()}
    if el == 7:
        first = next(x for x in files[menu].decode().splitlines() if x.startswith("menuentry "))
        files["/boot/grub2/grubenv"] = grubby.envblock(first.split("'")[1])
    grubby.write(raw, files, work)
    return files


@pytest.mark.slow
@pytest.mark.parametrize("el", [6, 7])
def test_the_image_boots_the_kernel_its_own_tools_make_the_default(
    kernel: Path, tmp_path: Path, el: EL
) -> None:
    """Built image -> `yum update kernel` (grubby's edit) -> the NEW kernel boots; the entry
    removed again -> the menu is byte for byte the built one, and the build-time kernel
    boots through the GRUB on the image's own disk (no -kernel)."""
    # EL7 images ship their own GRUB 2 (grub2-pc): its core.img must come from it.
    grub = owngrub.rpms(tmp_path / "grub", f".el{el}") if el == 7 else []
    (tmp_path / "repo").mkdir()
    repo = build_repo(tmp_path / "repo", f".el{el}", (kernel, *grub))
    packages = ["filesystem", "busybox", "boot-kernel", "policycoreutils"]
    image = definition(repo, el, packages=packages + (list(owngrub.PACKAGES) if grub else []))
    result = build(image, "openstack", tmp_path / "out", tmp_path / "cache")
    raw = result.raw_path
    if el == 7:  # made once, in the image's chroot, from the image's own modules
        log = grubby.read(raw, owngrub.LOG).decode().splitlines()
        assert len(log) == 1 and " -d /usr/lib/grub/i386-pc " in log[0], log
        assert " -o /boot/grub2/i386-pc/core.img " in log[0], log
    kver = next(
        line.split("vmlinuz-")[1]
        for line in diskview.debugfs(raw, "ls -p /boot").splitlines()
        if "/vmlinuz-" in line
    ).split("/")[0]
    menu = "/boot/grub2/grub.cfg" if el == 7 else "/boot/grub/grub.conf"
    paths = [menu, "/boot/grub2/grubenv"] if el == 7 else [menu]
    built = {path: grubby.read(raw, path) for path in paths}

    title = update_kernel(raw, el, kver, tmp_path / "update")
    console = boot(raw)
    updated = kernel_line(console)
    assert UPDATED in updated and f"/boot/vmlinuz-{kver}.update " in updated, updated
    assert MARKER in console, console[-3000:]  # the new kernel got as far as the image's init

    assert remove_entry(raw, el, title, tmp_path / "remove") == built
    console = boot(raw)
    assert MARKER in console, console[-3000:]
    assert "initramfs: root UUID=" in console and "is /dev/vda1" in console
    command_line = kernel_line(console)
    assert UPDATED not in command_line and f"/boot/vmlinuz-{kver} " in command_line
    assert f"root=UUID={root_uuid(result.build_id)} ro" in command_line  # the built entry
    assert ("net.ifnames=0" in command_line) == (el == 7)
