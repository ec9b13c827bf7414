"""`installer: qemu` end to end: fetch the tree's installer, hand it the kickstart, run it in
QEMU, and check the disk it leaves (partition table, filesystem) before the builder reads
its package manifest and caches it like any other build."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from release import runner
from release.errors import OperationError
from release.imaging import disk, installtree, kickstart, ksserver
from release.imaging import qemu_install as qi
from release.model.image import ImageDefinition

log = logging.getLogger("release.progress")


@dataclass(frozen=True)
class QemuOptions:
    """How to run the install; none of it changes the image's bytes (not in the build id)."""

    accel: qi.Accel = "auto"
    deadline: float = qi.DEFAULT_DEADLINE
    delivery: qi.Delivery = "oemdrv"
    kvm_device: Path = qi.KVM_DEVICE


def tree_spec(image: ImageDefinition, variant: str) -> str:
    return image.install_tree or image.sources_for(variant)[0].baseurl


def tools_for(image: ImageDefinition) -> tuple[str, ...]:
    iso = ("xorriso",) if (image.install_tree or "").lower().endswith(".iso") else ()
    return ("qemu-system-x86_64", "mkfs.vfat", "mcopy", *iso, "sfdisk", "e2fsck", "debugfs", "rpm")


def install(
    image: ImageDefinition,
    variant: str,
    ks_text: str,
    work: Path,
    options: QemuOptions,
    console_log: Path,
) -> Path:
    """Run the install; return the checked raw disk it made in `work`."""
    tree = installtree.resolve(tree_spec(image, variant))
    kernel, initrd = installtree.boot_files(tree, work / "installer")
    accel = _accel(options, variant)
    raw = work / "installer.raw"
    with raw.open("wb") as fh:
        fh.truncate(image.disk.size)
    served = Path(tree.where) if tree.kind == "dir" else None
    with ksserver.serving(b"", served) as server:
        text = installtree.kickstart_for(ks_text, tree, server.guest_url("tree/"))
        oemdrv = None
        if options.delivery == "oemdrv":
            text = qi.with_install_disk(text)
            oemdrv = work / "oemdrv.img"
        kickstart.validate(text, image.el, f"{image.name}/{variant} (as given to the installer)")
        server.kickstart = text.encode()
        if oemdrv:
            qi.make_oemdrv(oemdrv, text)
        ks = qi.ks_location(image.el, options.delivery, server.guest_url("ks.cfg"))
        guest = qi.Guest(
            accel=accel,
            memory_mib=max(2048, image.hardware.memory >> 20),
            cpus=image.hardware.cpus,
            kernel=kernel,
            initrd=initrd,
            append=qi.boot_args(image.el, ks, tree.kind == "iso"),
            disk=raw,
            oemdrv=oemdrv,
            iso=Path(tree.where) if tree.kind == "iso" else None,
        )
        log.info("%s: installer: booting %s's installer (%s), console in %s",
                 variant, tree, accel, console_log)  # fmt: skip
        qi.run_guest(qi.qemu_argv(guest), console_log, options.deadline, variant)
        if options.delivery == "http" and "/ks.cfg" not in server.requests:
            raise OperationError(
                f"the installer powered off without fetching its kickstart (see {console_log})"
            )
    check_disk(raw, console_log)
    return raw


def _accel(options: QemuOptions, variant: str) -> Literal["kvm", "tcg"]:
    """KVM when it is usable (or asked for), else TCG, with a warning of the slowdown."""
    accel = qi.choose_accel(options.accel, qi.kvm_usable(options.kvm_device))
    if accel == "tcg":
        log.warning("%s: %s", variant, qi.tcg_note(options.accel))
    return accel


def check_disk(raw: Path, console_log: Path) -> None:
    """What the installer must leave: an MBR with a Linux partition, and a clean filesystem
    on the first one (the package manifest is read from it next)."""
    after = f"after the install (see {console_log})"
    table = json.loads(runner.run(["sfdisk", "-J", str(raw)], check=False).text or "{}")
    parts = table.get("partitiontable", {}).get("partitions", [])
    if table.get("partitiontable", {}).get("label") != "dos" or not parts:
        raise OperationError(f"{raw}: no MBR partition table {after}")
    if parts[0].get("type") != "83":
        raise OperationError(
            f"{raw}: the first partition is type {parts[0].get('type')}, not Linux (83) {after}"
        )
    offset = int(parts[0]["start"]) * disk.SECTOR
    done = runner.run(["e2fsck", "-fn", f"{raw}?offset={offset}"], check=False)
    if done.returncode != 0:
        raise OperationError(
            f"{raw}: the root filesystem does not pass e2fsck -fn {after}: "
            + (done.text + done.stderr).strip().splitlines()[-1]
        )


def console_log_for(work: Path, image: ImageDefinition, variant: str, build_id: str) -> Path:
    """Kept beside the cache's work directories, so a failed install's log survives it."""
    return (
        work.parent.parent
        / "logs"
        / f"{image.name}-{variant}-{build_id[:16]}.{os.getpid()}.console.log"
    )
