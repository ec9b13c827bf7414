"""The demo's local yum repositories: packages built with rpmbuild from the spec files shipped
in `release/data/demo/`, indexed by createrepo_c. Tests build their fixture repos with it too."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from release import runner

DATA = Path(__file__).resolve().parent.parent / "data" / "demo"
SPECS = tuple(sorted((DATA / "rpms").glob("*.spec")))
BOOT_KERNEL_SPEC = DATA / "boot" / "boot-kernel.spec"
BUSYBOX = Path("/bin/busybox")


def rpmbuild_argv(spec: Path, top: Path, defines: dict[str, str]) -> list[str]:
    argv = ["rpmbuild", "-bb", "--quiet", "--define", f"_topdir {top}"]
    for name, value in defines.items():
        argv += ["--define", f"{name} {value}"]
    return [*argv, str(spec)]


def createrepo_argv(repo: Path) -> list[str]:
    return ["createrepo_c", "-q", str(repo)]


def is_repo(repo: Path) -> bool:
    return (repo / "repodata" / "repomd.xml").is_file()


def build_repo(
    dest: Path,
    dist: str,
    extra_rpms: Sequence[Path] = (),
    specs: Sequence[Path] = SPECS,
) -> Path:
    """Packages of `specs` built with `%dist` = `dist`, plus `extra_rpms`, as a yum repo at
    `dest/repo`. The repo appears under its final name only once indexed."""
    top = dest / "rpmbuild"
    for spec in specs:
        runner.run(rpmbuild_argv(spec, top, {"dist": dist, "busybox": str(BUSYBOX)}))
    staging = dest / ".repo.staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for rpm in sorted((top / "RPMS").rglob("*.rpm")):
        rpm.replace(staging / rpm.name)
    for rpm in extra_rpms:
        shutil.copyfile(rpm, staging / rpm.name)
    runner.run(createrepo_argv(staging))
    shutil.rmtree(top, ignore_errors=True)
    repo = dest / "repo"
    staging.rename(repo)
    return repo
