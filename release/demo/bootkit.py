"""What a QEMU boot of the demo images (and the boot tests) needs: a real kernel (Debian's,
fetched with `apt-get download`, unpacked with `dpkg-deb -x`, never installed), a busybox
initramfs that loads virtio and ext4 and switches to the root named by `root=UUID=...`, and
both packaged as an RPM (release/data/demo/boot/boot-kernel.spec)."""

from __future__ import annotations

import gzip
import lzma
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from release import runner
from release.demo.repo import BOOT_KERNEL_SPEC, BUSYBOX, rpmbuild_argv
from release.errors import OperationError

# ext4 wants crc32c at mount time (a soft dependency, not in `depends=`).
WANTED_MODULES = ("virtio_pci", "virtio_blk", "crc32c_generic", "ext4")

INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev /newroot
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules.order); do insmod /lib/modules/$m; done
uuid=$(sed -n 's/.*root=UUID=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
for i in $(seq 50); do
  dev=$(findfs UUID=$uuid 2>/dev/null) && break
  sleep 0.2
done
echo "initramfs: root UUID=$uuid is $dev"
mount -t ext4 -o ro "$dev" /newroot || { echo "initramfs: cannot mount root"; poweroff -f; }
exec switch_root /newroot /sbin/init
"""


def _kernel_package() -> str | None:
    depends = runner.run(["apt-cache", "depends", "linux-image-amd64"], check=False).stdout
    for line in depends.decode(errors="replace").splitlines():
        if "Depends:" in line and "linux-image-" in line:
            return line.split(":", 1)[1].strip()
    return None


def kernel_cache() -> Path:
    """Where `.ci/setup` leaves Debian's kernel package, so the demo itself needs no network."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "image-release" / "kernel"


def fetch_kernel_deb(cache: Path) -> Path:
    """Debian's current kernel package in `cache`, downloaded once (`apt-get download`)."""
    found = sorted(cache.glob("linux-image-*.deb"))
    if found:
        return found[-1]
    package = _kernel_package()
    if package is None:  # apt's lists were never fetched on this machine
        raise OperationError(
            "apt knows no linux-image-amd64: run 'apt-get update' (a Debian archive is needed"
            " for the bootable kernel)"
        )
    cache.mkdir(parents=True, exist_ok=True)
    cache.chmod(0o777)  # apt's _apt user downloads into it
    runner.run(["apt-get", "download", "-q", package], cwd=cache)
    return next(cache.glob("linux-image-*.deb"))


def debian_kernel(dest: Path) -> tuple[Path, Path, str]:
    """(vmlinuz, modules dir, version) of Debian's kernel package, unpacked, never installed."""
    deb = fetch_kernel_deb(kernel_cache())
    dest.mkdir(parents=True, exist_ok=True)
    unpacked = dest / "x"
    runner.run(["dpkg-deb", "-x", str(deb), str(unpacked)])
    kver = deb.name.removeprefix("linux-image-").split("_", 1)[0]
    return unpacked / "boot" / f"vmlinuz-{kver}", unpacked / "lib" / "modules" / kver, kver


def _depends(data: bytes) -> list[str]:
    """The `depends=` of a module's .modinfo section (modules.dep is made by depmod at
    install time, so an unpacked package has none)."""
    found = re.search(rb"\x00depends=([^\x00]*)\x00", data)
    return [d for d in found.group(1).decode().split(",") if d] if found else []


def _read_module(path: Path) -> bytes:
    data = path.read_bytes()
    return lzma.decompress(data) if path.name.endswith(".xz") else data


def module_order(modules: Path, wanted: Sequence[str] = WANTED_MODULES) -> list[Path]:
    """The `wanted` modules and their dependencies, dependencies first."""
    by_name = {
        p.name.split(".ko")[0].replace("-", "_"): p for p in (modules / "kernel").rglob("*.ko*")
    }
    order: list[Path] = []

    def visit(name: str) -> None:
        path = by_name[name.replace("-", "_")]
        for dep in _depends(_read_module(path)):
            visit(dep)
        if path not in order:
            order.append(path)

    for name in wanted:
        visit(name)
    return order


def initramfs(modules: Path, out: Path, work: Path) -> Path:
    stage = work / "initramfs"
    (stage / "bin").mkdir(parents=True)
    (stage / "lib" / "modules").mkdir(parents=True)
    shutil.copy2(BUSYBOX, stage / "bin" / "busybox")
    names = []
    for path in module_order(modules):
        name = path.name.removesuffix(".xz")
        (stage / "lib" / "modules" / name).write_bytes(_read_module(path))
        names.append(name)
    (stage / "modules.order").write_text("\n".join(names) + "\n")
    (stage / "init").write_text(INIT)
    (stage / "init").chmod(0o755)
    files = sorted(str(p.relative_to(stage)) for p in stage.rglob("*"))
    listing = ("\n".join(files) + "\n").encode()
    cpio = runner.run(
        ["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"], cwd=stage, input=listing
    ).stdout
    out.write_bytes(gzip.compress(cpio, compresslevel=1))
    return out


def kernel_rpm(work: Path, dist: str) -> Path:
    vmlinuz, modules, kver = debian_kernel(work / "kernel")
    initrd = initramfs(modules, work / "initramfs.img", work)
    top = work / "rpmbuild"
    defines = {"dist": dist, "kver": kver, "vmlinuz": str(vmlinuz), "initramfs": str(initrd)}
    runner.run(rpmbuild_argv(BOOT_KERNEL_SPEC, top, defines))
    return next((top / "RPMS").rglob("boot-kernel-*.rpm"))
