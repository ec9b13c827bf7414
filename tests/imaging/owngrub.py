"""An image's own GRUB 2 for the tests: grub2-pc-modules and grub2-tools-minimal RPMs
(tests/fixtures/boot/grub2-pc.spec) made from the build host's GRUB, with the libraries its
grub-mkimage links, so it runs in a chroot of the image. The image's grub2-mkimage records
each run in the image's /var/log/grub2-mkimage.log, then runs the real program."""

from __future__ import annotations

import shutil
from pathlib import Path

from release import runner
from release.demo.repo import rpmbuild_argv

GRUB_SPEC = Path(__file__).resolve().parents[1] / "fixtures" / "boot" / "grub2-pc.spec"
HOST_GRUB = Path("/usr/lib/grub/i386-pc")
PACKAGES = ("grub2-pc-modules", "grub2-tools-minimal")
LOG = "/var/log/grub2-mkimage.log"


def _ldd(binary: Path) -> list[Path]:
    out = runner.run(["ldd", str(binary)]).text
    found = [line.split("=>")[1].split("(")[0].strip() for line in out.splitlines() if "=>" in line]
    loader = next(line.split()[0] for line in out.splitlines() if "ld-linux" in line)
    return [Path(p) for p in (*found, loader) if p]


def rpms(work: Path, dist: str) -> list[Path]:
    """grub2-pc-modules and grub2-tools-minimal made from the host's GRUB (GRUB_SPEC)."""
    stage = work / "stage"
    shutil.copytree(HOST_GRUB, stage / "usr/lib/grub/i386-pc")
    libs = stage / "usr/libexec/grub2-libs"
    libs.mkdir(parents=True)
    mkimage = Path(shutil.which("grub-mkimage") or "/usr/bin/grub-mkimage")
    for lib in _ldd(mkimage):
        shutil.copyfile(lib.resolve(), libs / lib.name)
    (libs / "ld-linux-x86-64.so.2").chmod(0o755)
    shutil.copyfile(mkimage, stage / "usr/libexec/grub2-mkimage.real")
    (stage / "usr/libexec/grub2-mkimage.real").chmod(0o755)
    wrapper = stage / "usr/bin/grub2-mkimage"
    wrapper.parent.mkdir(parents=True)
    wrapper.write_text(
        "#!/bin/sh\n"
        f'echo "grub2-mkimage $*" >> {LOG}\n'
        "exec /usr/libexec/grub2-libs/ld-linux-x86-64.so.2 --library-path"
        ' /usr/libexec/grub2-libs /usr/libexec/grub2-mkimage.real "$@"\n'
    )
    wrapper.chmod(0o755)
    top = work / "rpmbuild"
    runner.run(rpmbuild_argv(GRUB_SPEC, top, {"stage": str(stage), "dist": dist}))
    return sorted((top / "RPMS").rglob("*.rpm"))
