"""The catalogue of external tools: what each is for and which package provides it.

The runner uses it to say how to install a missing tool; `release doctor` uses it to list
what the configured pipeline needs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tool:
    name: str
    purpose: str
    debian: str
    fedora: str
    version_argv: tuple[str, ...] = ("--version",)
    also: tuple[str, ...] = ()  # the same tool's name on other distributions

    def commands(self) -> tuple[str, ...]:
        return (self.name, *self.also)

    def install_hint(self) -> str:
        return (
            f"install it with 'apt-get install {self.debian}' (Debian/Ubuntu)"
            f" or 'dnf install {self.fedora}' (Fedora/EL)"
        )


# Stages of the pipeline; doctor reports the tools of the stages the config uses.
CORE = "core"
BUILD = "build"
CONVERT = "convert"
SIGN = "sign"
PUBLISH_RSYNC = "publish-rsync"
BOOT_TEST = "boot-test"
BUILD_KICKSTART = "build-kickstart"  # builder: kickstart (one installer per definition)
DEMO = "demo"  # `release demo`: its package repos and bootable kernel

_CATALOGUE: dict[str, tuple[Tool, tuple[str, ...]]] = {
    t.name: (t, stages)
    for t, stages in [
        (Tool("git", "reads the config repo", "git", "git"), (CORE,)),
        (Tool("gpg", "signs and verifies", "gnupg", "gnupg2"), (SIGN,)),
        (Tool("gpgconf", "stops the agents of temporary keyrings", "gnupg", "gnupg2"), (SIGN,)),
        (Tool("dnf", "installs packages into the image root", "dnf", "dnf"), (BUILD,)),
        (Tool("rpm", "reads the image's package database", "rpm", "rpm"), (BUILD,)),
        (Tool("sfdisk", "writes the partition table", "fdisk", "util-linux"), (BUILD,)),
        (
            Tool(
                "mkfs.ext4",
                "creates the root filesystem in place",
                "e2fsprogs",
                "e2fsprogs",
                ("-V",),
            ),
            (BUILD,),
        ),
        (Tool("e2fsck", "checks the root filesystem", "e2fsprogs", "e2fsprogs", ("-V",)), (BUILD,)),
        (
            Tool(
                "debugfs",
                "inspects the root filesystem without mounting",
                "e2fsprogs",
                "e2fsprogs",
                ("-V",),
            ),
            (BUILD,),
        ),
        (
            Tool("fakeroot", "gives files the right owners without root", "fakeroot", "fakeroot"),
            (BUILD,),
        ),
        (
            Tool(
                "unshare", "runs dnf in a user namespace when not root", "util-linux", "util-linux"
            ),
            (BUILD,),
        ),
        (
            Tool(
                "growpart",
                "proves the partition can grow",
                "cloud-guest-utils",
                "cloud-utils-growpart",
                ("--help",),
            ),
            (BUILD,),
        ),
        (Tool("qemu-img", "converts and checks disk images", "qemu-utils", "qemu-img"), (CONVERT,)),
        (Tool("tar", "packs the GCE and OVA archives (GNU tar)", "tar", "tar"), (CONVERT,)),
        (Tool("pigz", "compresses the GCE archive in parallel", "pigz", "pigz"), (CONVERT,)),
        (Tool("xz", "compresses raw disks for mirrors", "xz-utils", "xz"), (CONVERT,)),
        (
            Tool(
                "cp",
                "copies raw disks keeping holes (reflink where it can)",
                "coreutils",
                "coreutils",
            ),
            (CONVERT, BUILD),
        ),
        (Tool("rsync", "publishes to rsync mirrors", "rsync", "rsync"), (PUBLISH_RSYNC,)),
        (
            Tool(
                "ssh",
                "carries rsync to remote mirrors",
                "openssh-client",
                "openssh-clients",
                ("-V",),
            ),
            (PUBLISH_RSYNC,),
        ),
        (
            Tool("qemu-system-x86_64", "boot-tests images", "qemu-system-x86", "qemu-system-x86"),
            (BOOT_TEST,),
        ),
        (Tool("gpgv", "verifies signatures with a pinned keyring", "gpgv", "gnupg2"), (SIGN,)),
        (
            Tool(
                "grub-mkimage",
                "makes the BIOS bootloader of images that carry a kernel",
                "grub-pc-bin",
                "grub2-tools-minimal grub2-pc-modules",
            ),
            (BUILD,),
        ),
        (
            Tool(
                "chroot",
                "runs the image's own setfiles, dracut and rpm --rebuilddb",
                "coreutils",
                "coreutils",
            ),
            (BUILD,),
        ),
        (
            Tool(
                "db5.3_load",
                "writes the Berkeley DB rpmdb EL6/EL7's rpm reads (db_load on Fedora/EL)",
                "db5.3-util",
                "libdb-utils",
                ("-V",),
                also=("db_load",),
            ),
            (BUILD,),
        ),
        (
            Tool(
                "db5.3_verify",
                "checks that Berkeley DB rpmdb (db_verify on Fedora/EL)",
                "db5.3-util",
                "libdb-utils",
                ("-V",),
                also=("db_verify",),
            ),
            (BUILD,),
        ),
        (
            Tool(
                "livemedia-creator",
                "installs a kickstart into a disk image (builder: kickstart)",
                "lorax",
                "lorax",
            ),
            (BUILD_KICKSTART,),
        ),
        (
            Tool(
                "mkfs.vfat",
                "makes the OEMDRV kickstart disk (installer: qemu)",
                "dosfstools",
                "dosfstools",
            ),
            (BUILD_KICKSTART,),
        ),
        (
            Tool(
                "mcopy",
                "puts ks.cfg on the OEMDRV disk (installer: qemu)",
                "mtools",
                "mtools",
                ("-V",),
            ),
            (BUILD_KICKSTART,),
        ),
        (
            Tool(
                "xorriso", "reads the installer from an ISO (installer: qemu)", "xorriso", "xorriso"
            ),
            (BUILD_KICKSTART,),
        ),
        (
            Tool("koji", "runs image-build tasks (builder: kickstart)", "koji", "koji"),
            (BUILD_KICKSTART,),
        ),
        (Tool("rpmbuild", "builds the demo's package sets", "rpm", "rpm-build"), (DEMO,)),
        (
            Tool(
                "createrepo_c", "indexes the demo's package repos", "createrepo-c", "createrepo_c"
            ),
            (DEMO,),
        ),
        (Tool("cpio", "packs the demo kernel's initramfs", "cpio", "cpio"), (DEMO,)),
        (Tool("apt-get", "fetches the demo's bootable kernel", "apt", "dnf"), (DEMO,)),
        (Tool("dpkg-deb", "unpacks the demo's bootable kernel", "dpkg", "dpkg"), (DEMO,)),
    ]
}


def lookup(name: str) -> Tool | None:
    entry = _CATALOGUE.get(name)
    return entry[0] if entry else None


def tools_for(stages: set[str]) -> list[Tool]:
    """The tools the given pipeline stages need, in catalogue order."""
    return [tool for tool, tool_stages in _CATALOGUE.values() if stages.intersection(tool_stages)]


def stages_of(tool: Tool) -> tuple[str, ...]:
    return _CATALOGUE[tool.name][1]
