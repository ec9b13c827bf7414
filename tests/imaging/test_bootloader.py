"""The bootloader files of built images, read back from the raw disk (debugfs), in the layout
EL's own tools (grubby, grub2-mkconfig, new-kernel-pkg) read and edit. That the image boots
through them, follows a kernel update, and that an image's own GRUB makes its core.img, is
proven in test_boot.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from release.imaging import bootloader, grubcfg
from release.imaging.builder import build, root_uuid
from tests.imaging.conftest import ImageFactory
from tests.imaging.diskview import dump_root

KVER = "1.0-1.el{el}.x86_64"  # the fixture kernel's version


def built_tree(make_image: ImageFactory, tmp_path: Path, el: int) -> tuple[Path, str, Path]:
    result = build(make_image(el), "openstack", tmp_path / "out", tmp_path / "cache")
    return (
        dump_root(result.raw_path, tmp_path / "root"),
        root_uuid(result.build_id),
        result.raw_path,
    )


def test_el7_menu_is_what_grub2_mkconfig_writes_and_grubby_edits(
    make_image: ImageFactory, tmp_path: Path
) -> None:
    root, uuid, raw = built_tree(make_image, tmp_path, 7)
    kver = KVER.format(el=7)
    cfg = (root / "boot/grub2/grub.cfg").read_text()
    # grubby reads the default from this line and the title from grubenv's saved_entry.
    assert '\n   set default="${saved_entry}"\n' in cfg
    assert "load_env" in cfg and "serial --speed=115200" in cfg
    entries = [x for x in cfg.splitlines() if x.startswith("menuentry ")]
    assert len(entries) == 1
    title = entries[0].split("'")[1]
    assert title == f"Linux ({kver})"  # no /etc/system-release in the fixture
    assert entries[0].endswith(f"'gnulinux-{kver}-advanced-{uuid}' {{")
    kernel = next(x.strip() for x in cfg.splitlines() if x.strip().startswith("linux16 "))
    assert kernel == (
        f"linux16 /boot/vmlinuz-{kver} root=UUID={uuid} ro net.ifnames=0 biosdevname=0"
        " console=tty0 console=ttyS0,115200n8"
    )
    env = (root / "boot/grub2/grubenv").read_bytes()
    assert len(env) == 1024 and env.startswith(b"# GRUB Environment Block\n")
    assert env.split(b"\n")[1] == f"saved_entry={title}".encode()
    assert str((root / "etc/grub2.cfg").readlink()) == "../boot/grub2/grub.cfg"  # grubby's
    assert not (root / "boot/grub/grub.cfg").exists()  # grubby would edit that one instead
    default = (root / "etc/default/grub").read_text().splitlines()
    assert "GRUB_DEFAULT=saved" in default and "GRUB_DISABLE_SUBMENU=true" in default
    assert "GRUB_TIMEOUT=1" in default and 'GRUB_DISABLE_RECOVERY="true"' in default
    assert (
        'GRUB_CMDLINE_LINUX="net.ifnames=0 biosdevname=0 console=tty0 console=ttyS0,115200n8"'
        in default
    )
    assert 'GRUB_TERMINAL="serial console"' in default
    kernel_conf = (root / "etc/sysconfig/kernel").read_text().splitlines()
    assert "UPDATEDEFAULT=yes" in kernel_conf and "DEFAULTKERNEL=kernel" in kernel_conf
    # grub2-install's layout: the modules, boot.img and core.img where EL7's tools look.
    grub = root / "boot/grub2/i386-pc"
    assert (grub / "loadenv.mod").is_file() and (grub / "boot.img").is_file()
    core = (grub / "core.img").read_bytes()
    assert raw.read_bytes()[512 : 512 + len(core)] == core


def test_el6_menu_is_grub_legacy_that_grub2_reads(make_image: ImageFactory, tmp_path: Path) -> None:
    root, uuid, _ = built_tree(make_image, tmp_path, 6)
    kver = KVER.format(el=6)
    conf = (root / "boot/grub/grub.conf").read_text().splitlines()
    assert "default=0" in conf and "timeout=1" in conf
    start = conf.index(f"title Linux ({kver})")
    assert conf[start + 1 :] == [
        "\troot (hd0,0)",
        f"\tkernel /boot/vmlinuz-{kver} root=UUID={uuid} ro console=tty0 console=ttyS0,115200n8",
    ]  # the fixture kernel has no initramfs
    assert str((root / "etc/grub.conf").readlink()) == "../boot/grub/grub.conf"
    assert os.readlink(root / "boot/grub/menu.lst") == "./grub.conf"  # noqa: PTH115 - keeps ./
    # GRUB 2's own menu is inside core.img: no grub.cfg an EL6 tool could take for its own.
    assert not (root / "boot/grub/grub.cfg").exists()
    assert not (root / "boot/grub2").exists() and not (root / "etc/default/grub").exists()
    kernel_conf = (root / "etc/sysconfig/kernel").read_text().splitlines()
    assert "UPDATEDEFAULT=yes" in kernel_conf and "DEFAULTKERNEL=kernel" in kernel_conf
    assert (root / "boot/grub/i386-pc/legacycfg.mod").is_file()


def test_grubenv_is_one_block_and_a_title_too_long_for_it_is_an_error() -> None:
    env = grubcfg.grubenv("CentOS Linux (3.10.0-1160.el7.x86_64) 7 (Core)")
    assert len(env) == 1024 and env.endswith(b"###")
    assert b"\nsaved_entry=CentOS Linux (3.10.0-1160.el7.x86_64) 7 (Core)\n" in env
    with pytest.raises(Exception, match="does not fit in grubenv"):
        grubcfg.grubenv("x" * 1000)


def test_titles_follow_new_kernel_pkg() -> None:
    kernel = grubcfg.Kernel("vmlinuz-K", "initramfs-K.img", "K")
    el7 = "CentOS Linux release 7.9.2009 (Core)\n"
    assert grubcfg.entry_title(7, kernel, el7) == "CentOS Linux (K) 7 (Core)"
    assert grubcfg.entry_title(6, kernel, "CentOS release 6.10 (Final)\n") == "CentOS (K)"
    assert grubcfg.entry_title(7, kernel, None) == "Linux (K)"


def test_mkimage_argv_with_the_image_s_own_grub_runs_in_the_chroot() -> None:
    argv = bootloader.mkimage_argv(
        "/usr/bin/grub2-mkimage",
        "/usr/lib/grub/i386-pc",
        "/boot/grub2/i386-pc/core.img",
        7,
        chroot=Path("/work/tree"),
    )
    assert argv[:3] == ["chroot", "/work/tree", "/usr/bin/grub2-mkimage"]
    assert argv[argv.index("-p") + 1] == "(hd0,msdos1)/boot/grub2"
    assert argv[argv.index("-d") + 1] == "/usr/lib/grub/i386-pc"
    assert {"biosdisk", "part_msdos", "ext2", "linux16", "loadenv"} <= set(argv)
    el6 = bootloader.mkimage_argv("grub-mkimage", "/usr/lib/grub/i386-pc", "/o", 6, config="/e")
    assert el6[0] == "grub-mkimage" and el6[el6.index("-p") + 1] == "(hd0,msdos1)/boot/grub"
    assert el6[el6.index("-c") + 1] == "/e"  # the hand-over menu, embedded
    assert {"legacycfg", "linux16", "serial", "terminal"} <= set(el6)
    handover = grubcfg.el6_handover_cfg().splitlines()
    assert handover[-1] == "legacy_configfile /boot/grub/grub.conf"


def test_the_title_comes_from_the_image_s_release_file_never_the_host_s(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc/centos-release").write_text("CentOS Linux release 7.9.2009 (Core)\n")
    (tree / "etc/system-release").symlink_to("/etc/centos-release")  # absolute: in the image
    (tree / "etc/grub2.cfg").symlink_to("../boot/grub2/grub.cfg")  # as grub2-pc installs it
    kernel = grubcfg.Kernel("vmlinuz-3.10.0-1160.el7.x86_64", None, "3.10.0-1160.el7.x86_64")
    bootloader.write_menu(tree, 7, kernel, "u-u-i-d", ("console=ttyS0",))
    title = "CentOS Linux (3.10.0-1160.el7.x86_64) 7 (Core)"
    assert f"\nsaved_entry={title}\n".encode() in (tree / "boot/grub2/grubenv").read_bytes()
    assert f"menuentry '{title}' " in (tree / "etc/grub2.cfg").read_text()
    escape = tmp_path / "outside-release"
    escape.write_text("Host release 99 (Not the image)\n")
    (tree / "etc/system-release").unlink()
    (tree / "etc/system-release").symlink_to(f"../../{escape.name}")  # out of the tree
    bootloader.write_menu(tree, 7, kernel, "u-u-i-d", ())
    assert (
        b"saved_entry=Linux (3.10.0-1160.el7.x86_64)\n"
        in (tree / "boot/grub2/grubenv").read_bytes()
    )


def test_the_image_s_own_grub_is_used_only_when_it_ships_modules_and_mkimage(
    tmp_path: Path,
) -> None:
    tree = tmp_path / "tree"
    assert bootloader.image_mkimage(tree) is None
    (tree / "usr/lib/grub/i386-pc").mkdir(parents=True)
    (tree / "usr/lib/grub/i386-pc/boot.img").write_bytes(b"\0" * 512)
    assert bootloader.image_mkimage(tree) is None  # modules without grub2-tools: the host's
    (tree / "usr/bin").mkdir(parents=True)
    (tree / "usr/bin/grub2-mkimage").write_text("#!/bin/sh\n")
    assert bootloader.image_mkimage(tree) == "/usr/bin/grub2-mkimage"
