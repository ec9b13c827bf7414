"""The bootloader of an installroot image, installed so the image's own tools keep it up to
date after a kernel update: the menu files (`grubcfg`) written into the tree with the links
EL's tools look for (EL7: `/etc/grub2.cfg`; EL6: `/etc/grub.conf`, `/boot/grub/menu.lst`),
and core.img made the way grub2-install makes it, into `PREFIX/i386-pc` with the modules and
boot.img: by the image's own grub2-mkimage from its own modules (in a chroot) when the image
ships GRUB 2, by the build host's otherwise. `disk.install_grub` copies boot.img and core.img
from there into the disk's first sectors. On EL6 core.img carries its own two-line menu,
which hands over to GRUB legacy's grub.conf: no GRUB 2 menu file in the image that an EL6 tool
could take for the system's bootloader config.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from release import runner
from release.errors import OperationError
from release.imaging import grubcfg
from release.imaging.grubcfg import MENU, Kernel
from release.model.template import EL

HOST_GRUB_DIR = Path("/usr/lib/grub/i386-pc")
IMAGE_GRUB_DIR = "/usr/lib/grub/i386-pc"  # EL7's grub2-pc-modules
IMAGE_MKIMAGE = ("/usr/bin/grub2-mkimage", "/usr/sbin/grub2-mkimage")
# GRUB 2's prefix: where core.img looks for its menu and modules. EL7's tools (grub2-mkconfig,
# grub2-editenv, grubby through /etc/grub2.cfg) expect /boot/grub2, not Debian's /boot/grub.
PREFIX: dict[int, str] = {6: "/boot/grub", 7: "/boot/grub2"}
# Embedded in core.img, so booting needs nothing else from the disk but the menu; the rest
# (gzio, all_video...) is loaded from PREFIX/i386-pc on demand.
CORE_MODULES: dict[int, tuple[str, ...]] = {
    7: (
        "biosdisk",
        "part_msdos",
        "ext2",
        "search_fs_uuid",
        "normal",
        "configfile",
        "linux16",
        "loadenv",
        "echo",
        "test",
    ),
    # No normal mode (which would load modules on demand) before the embedded menu runs.
    6: (
        "biosdisk",
        "part_msdos",
        "ext2",
        "serial",
        "terminal",
        "linux16",
        "legacycfg",
        "test",
        "loadenv",
    ),
}


def mkimage_argv(
    program: str,
    modules_dir: str,
    out: str,
    el: EL,
    chroot: Path | None = None,
    config: str | None = None,
) -> list[str]:
    """core.img for BIOS booting from the first partition, prefix at the EL's GRUB dir.
    With `chroot`, the image's own program and modules (paths inside the image); with
    `config`, a menu embedded in core.img (EL6: the hand-over to grub.conf)."""
    argv = [
        program,
        *(("-c", config) if config else ()),
        "-O",
        "i386-pc",
        "-d",
        modules_dir,
        "-p",
        f"(hd0,msdos1){PREFIX[el]}",
        "-o",
        out,
        *CORE_MODULES[el],
    ]
    return ["chroot", str(chroot), *argv] if chroot is not None else argv


def image_mkimage(tree: Path) -> str | None:
    """The image's own grub2-mkimage when it ships GRUB 2 for BIOS (grub2-pc-modules and
    grub2-tools), else None."""
    if not (tree / IMAGE_GRUB_DIR.lstrip("/") / "boot.img").is_file():
        return None
    return next((p for p in IMAGE_MKIMAGE if (tree / p.lstrip("/")).is_file()), None)


def _copy_modules(src: Path, dest: Path) -> None:
    """What grub2-install copies to PREFIX/i386-pc: modules, lists and boot.img."""
    if not (src / "boot.img").is_file():
        raise OperationError(
            f"{src}/boot.img is missing: install grub-pc-bin (Debian) or grub2-pc-modules"
            " (Fedora/EL) to make bootable images"
        )
    dest.mkdir(parents=True, exist_ok=True)
    for module in src.iterdir():
        if module.suffix in (".mod", ".lst", ".img") and module.name != "core.img":
            shutil.copyfile(module, dest / module.name)


def install_core(tree: Path, el: EL, wrap: Sequence[str] = ()) -> str:
    """boot.img, the modules and core.img into PREFIX/i386-pc of `tree`; returns whose GRUB
    made them ("image" or "host"). `disk.install_grub` writes boot.img and core.img from there
    into the disk's boot sectors."""
    dest_rel = f"{PREFIX[el]}/i386-pc"
    dest = tree / dest_rel.lstrip("/")
    own = image_mkimage(tree) if el == 7 else None
    if own is not None:
        _copy_modules(tree / IMAGE_GRUB_DIR.lstrip("/"), dest)
        argv = mkimage_argv(own, IMAGE_GRUB_DIR, f"{dest_rel}/core.img", el, chroot=tree)
        runner.run([*wrap, *argv])
        return "image"
    _copy_modules(HOST_GRUB_DIR, dest)
    early = tree.parent / f"{tree.name}.grub-early.cfg"  # outside the image
    config = str(early) if el == 6 else None
    try:
        if config:
            early.write_text(grubcfg.el6_handover_cfg())
        out = str(dest / "core.img")
        runner.run(mkimage_argv("grub-mkimage", str(HOST_GRUB_DIR), out, el, config=config))
    finally:
        early.unlink(missing_ok=True)
    return "host"


def _link(tree: Path, path: str, target: str) -> None:
    link = tree / path.lstrip("/")
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(target, link)  # noqa: PTH211 - as written: pathlib drops a leading './'


def _write(tree: Path, path: str, data: str | bytes) -> None:
    target = tree / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink():
        target.unlink()
    target.write_bytes(data.encode() if isinstance(data, str) else data)
    target.chmod(0o644)


def _read_in_tree(tree: Path, rel: str) -> str | None:
    """A file of the image, following its symlinks inside the image, never out of it
    (/etc/system-release links to the distribution's release file)."""
    path = tree / rel
    for _ in range(8):
        if path.is_symlink():
            target = path.readlink()
            path = tree / str(target).lstrip("/") if target.is_absolute() else path.parent / target
            continue
        inside = path.resolve().is_relative_to(tree.resolve())
        return path.read_text(errors="replace") if inside and path.is_file() else None
    return None


def write_menu(tree: Path, el: EL, kernel: Kernel, root_uuid: str, args: Sequence[str]) -> None:
    """The menu files of `el` for `kernel`, titled from the image's /etc/system-release."""
    title = grubcfg.entry_title(el, kernel, _read_in_tree(tree, "etc/system-release"))
    if el == 7:
        _write(tree, MENU[7], grubcfg.el7_grub_cfg(title, kernel, root_uuid, args))
        _write(tree, grubcfg.GRUBENV, grubcfg.grubenv(title))
        _write(tree, "/etc/default/grub", grubcfg.default_grub(args))
        _link(tree, "/etc/grub2.cfg", "../boot/grub2/grub.cfg")
    else:
        _write(tree, MENU[6], grubcfg.el6_grub_conf(title, kernel, root_uuid, args))
        _link(tree, "/etc/grub.conf", "../boot/grub/grub.conf")
        _link(tree, "/boot/grub/menu.lst", "./grub.conf")  # as EL6's grub package has it
    _write(tree, "/etc/sysconfig/kernel", grubcfg.SYSCONFIG_KERNEL)


def install(
    tree: Path, el: EL, kernel: Kernel, root_uuid: str, args: Sequence[str], wrap: Sequence[str]
) -> str:
    write_menu(tree, el, kernel, root_uuid, args)
    return install_core(tree, el, wrap)
