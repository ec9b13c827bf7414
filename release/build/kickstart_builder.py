"""The kickstart builder: hand the validated kickstart to an external installer
(livemedia-creator, virt-install or koji image-build) and collect the raw disk it makes.

Each installer's argv is a pure function of the definition; none of them can run on a host
without an EL install tree and KVM, so tests run them against a fake installer command.
"""

from __future__ import annotations

import re
from pathlib import Path

from release import runner
from release.errors import OperationError
from release.model.image import ImageDefinition

_OS_VARIANT = {6: "centos6.10", 7: "centos7.0"}
_KOJI_DISTRO = {6: "RHEL-6.10", 7: "RHEL-7.9"}


def livemedia_argv(image: ImageDefinition, ks: Path, result: Path) -> list[str]:
    return [
        "livemedia-creator",
        "--make-disk",
        "--no-virt",
        "--ks",
        str(ks),
        "--resultdir",
        str(result),
        "--image-name",
        "disk.raw",
        "--project",
        image.product or image.name,
        "--releasever",
        str(image.el),
    ]


def virt_install_argv(image: ImageDefinition, variant: str, ks: Path, raw: Path) -> list[str]:
    # EL6's anaconda reads `ks=`, EL7's `inst.ks=`; the kickstart is injected into the initrd.
    ks_arg = "ks" if image.el == 6 else "inst.ks"
    gib = max(1, image.disk.size >> 30)
    return [
        "virt-install",
        "--name",
        f"{image.name}-{variant}-build",
        "--memory",
        str(max(2048, image.hardware.memory >> 20)),
        "--vcpus",
        str(image.hardware.cpus),
        "--disk",
        f"path={raw},size={gib},format=raw,sparse=yes",
        "--location",
        image.sources_for(variant)[0].baseurl,
        "--initrd-inject",
        str(ks),
        "--extra-args",
        f"{ks_arg}=file:/{ks.name} console=ttyS0",
        "--os-variant",
        _OS_VARIANT[image.el],
        "--graphics",
        "none",
        "--noreboot",
        "--wait",
        "-1",
        "--transient",
    ]


def koji_argv(image: ImageDefinition, variant: str, ks: Path) -> list[str]:
    return [
        "koji",
        "image-build",
        f"{image.name}-{variant}",
        image.version,
        image.koji_target or "",
        image.sources_for(variant)[0].baseurl,
        image.arch,
        "--kickstart",
        str(ks),
        "--format",
        "raw",
        "--distro",
        _KOJI_DISTRO[image.el],
        "--disk-size",
        str(max(1, image.disk.size >> 30)),
        "--wait",
        "--noprogress",
    ]


def run_installer(image: ImageDefinition, variant: str, ks: Path, work: Path) -> Path:
    """Run the definition's installer; return the raw disk it made."""
    result = work / "installer"
    if image.installer == "livemedia-creator":
        runner.run(livemedia_argv(image, ks, result))
        return _one_raw(result)
    if image.installer == "virt-install":
        raw = work / "installer.raw"
        runner.run(virt_install_argv(image, variant, ks, raw))
        if not raw.is_file():
            raise OperationError(f"virt-install finished but left no disk at {raw}")
        return raw
    out = runner.run(koji_argv(image, variant, ks)).text
    task = re.search(r"Created task:\s*(\d+)", out)
    if task is None:
        raise OperationError("koji image-build printed no task id ('Created task: N')")
    result.mkdir(parents=True, exist_ok=True)
    runner.run(["koji", "download-task", f"--arch={image.arch}", task.group(1)], cwd=result)
    return _one_raw(result)


def _one_raw(folder: Path) -> Path:
    found = sorted(folder.rglob("*.raw")) if folder.is_dir() else []
    if len(found) != 1:
        raise OperationError(
            f"the installer should leave exactly one .raw disk in {folder}, found {len(found)}"
        )
    return found[0]
