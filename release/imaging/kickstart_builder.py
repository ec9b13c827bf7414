"""The external installers of the kickstart builder: livemedia-creator (EL hosts only) and
koji image-build, whose raw disk is fetched with `koji download-task`.

Each installer's argv is a pure function of the definition; neither can run here (no lorax,
no koji hub), so tests run them against a fake command that records what it was given. The
default installer, `installer: qemu`, lives in qemu_install.py and installroot-free tests
boot it for real.
"""

from __future__ import annotations

import re
from pathlib import Path

from release import runner
from release.errors import InvalidInput, OperationError
from release.model.image import ImageDefinition

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
    """Run an external installer (livemedia-creator, koji); return the raw disk it made."""
    result = work / "installer"
    if image.installer == "livemedia-creator":
        runner.run(livemedia_argv(image, ks, result))
        return _one_raw(result)
    out = runner.run(koji_argv(image, variant, ks)).text
    task = re.search(r"Created task:\s*(\d+)", out)
    if task is None:
        raise OperationError("koji image-build printed no task id ('Created task: N')")
    result.mkdir(parents=True, exist_ok=True)
    runner.run(["koji", "download-task", f"--arch={image.arch}", task.group(1)], cwd=result)
    return _one_raw(result)


def is_el_host(os_release: str) -> bool:
    """Whether /etc/os-release describes an EL-family host (where lorax installs)."""
    fields = dict(
        line.split("=", 1) for line in os_release.splitlines() if "=" in line and line[0] != "#"
    )
    names = f"{fields.get('ID', '')} {fields.get('ID_LIKE', '')}".replace('"', "").split()
    return any(n in ("rhel", "centos", "fedora") for n in names)


OS_RELEASE = Path("/etc/os-release")


def require_el_host() -> None:
    text = OS_RELEASE.read_text() if OS_RELEASE.is_file() else ""
    if not is_el_host(text):
        raise InvalidInput(
            "installer: livemedia-creator runs the build host's own anaconda (lorax), which"
            " exists only on EL/Fedora hosts, not on this one: use installer: qemu, which"
            " boots the image's own EL installer in QEMU on any Linux host"
        )


def _one_raw(folder: Path) -> Path:
    found = sorted(folder.rglob("*.raw")) if folder.is_dir() else []
    if len(found) != 1:
        raise OperationError(
            f"the installer should leave exactly one .raw disk in {folder}, found {len(found)}"
        )
    return found[0]
