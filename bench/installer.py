"""The `installer: qemu` plumbing, as a ratio (`python -m bench.installer [--quick]`).

The stand-in installer (tests/imaging/standin.py: Debian's kernel, a busybox initramfs
that partitions, makes the filesystem, untars the packages and runs %post) installs the
fixture image under TCG twice in the same run:
- ours: `qemu_builder.install` (boot files copied from the tree, kickstart validated, OEMDRV
  disk, the 127.0.0.1 server, QEMU, the console streamed and read, the disk checked);
- reference: the same kernel, initrd, command line and disks given to a bare
  `qemu-system-x86_64` by hand (OEMDRV made with mkfs.vfat + mcopy), console to a file.
Goal: the plumbing adds under 10% to the bare boot. The best of the runs counts.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from release.imaging import kickstart, qemu_builder
from release.imaging import qemu_install as qi
from tests.fixtures.rpmrepo import build_repo
from tests.imaging import standin
from tests.imaging.conftest import definition

VARIANT = "openstack"


def _ours(image: object, text: str, work: Path) -> float:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    options = qemu_builder.QemuOptions(accel="tcg", deadline=600)
    started = time.perf_counter()
    qemu_builder.install(image, VARIANT, text, work, options, work / "console.log")  # type: ignore[arg-type]
    return time.perf_counter() - started


def _by_hand(tree: Path, text: str, work: Path, size: int) -> float:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    pxe = tree / "images" / "pxeboot"
    started = time.perf_counter()
    (work / "ks.cfg").write_text(qi.with_install_disk(text))
    oemdrv = work / "oemdrv.img"
    subprocess.run(["mkfs.vfat", "-C", "-n", "OEMDRV", str(oemdrv), "1440"], check=True)
    subprocess.run(["mcopy", "-i", str(oemdrv), str(work / "ks.cfg"), "::ks.cfg"], check=True)
    subprocess.run(["truncate", "-s", str(size), str(work / "disk.raw")], check=True)
    append = "inst.ks=hd:LABEL=OEMDRV:/ks.cfg net.ifnames=0 biosdevname=0 console=ttyS0 panic=1"
    argv = ["qemu-system-x86_64", "-accel", "tcg", "-m", "2048", "-nodefaults", "-display",
            "none", "-serial", "stdio", "-no-reboot", "-kernel", str(pxe / "vmlinuz"),
            "-initrd", str(pxe / "initrd.img"), "-append", append,
            "-drive", f"file={work / 'disk.raw'},format=raw,if=virtio,cache=unsafe",
            "-netdev", "user,id=net0", "-device", "virtio-net-pci,netdev=net0",
            "-drive", f"file={oemdrv},format=raw,if=virtio,readonly=on"]  # fmt: skip
    with (work / "console.log").open("wb") as console:
        subprocess.run(argv, stdout=console, stdin=subprocess.DEVNULL, check=True, timeout=600)
    elapsed = time.perf_counter() - started
    if b"Power down" not in (work / "console.log").read_bytes():
        raise SystemExit(f"the bare boot did not install: see {work / 'console.log'}")
    return elapsed


def run(quick: bool) -> list[dict[str, object]]:
    base = Path(tempfile.mkdtemp(prefix="bench-installer-", dir="/tmp"))
    try:
        (base / "repo").mkdir()
        repo = build_repo(base / "repo", ".el7")
        root, packages = standin.root_tar(definition(repo, 7), VARIANT, base)
        tree = standin.install_tree(
            base / "tree", standin.kernel(base / "kernel"), root, packages, 7
        )
        image = definition(repo, 7, builder="kickstart", install_tree=str(tree))
        text = kickstart.render_valid(image, VARIANT)
        ours, ref = [], []
        for _ in range(1 if quick else 3):
            ref.append(_by_hand(tree, text, base / "ref", image.disk.size))
            ours.append(_ours(image, text, base / "ours"))
        return [
            {
                "what": "stand-in install under TCG: the plumbing vs a bare qemu boot",
                "ours_s": min(ours),
                "reference_s": min(ref),
                "ratio": min(ours) / min(ref),
                "goal": "< 1.10",
                "peak_rss_mb": None,
            }
        ]
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    for row in run("--quick" in sys.argv):
        print(
            f"{row['what']}: ours {row['ours_s']:.2f} s, bare qemu {row['reference_s']:.2f} s,"
            f" ratio {row['ratio']:.3f} (goal {row['goal']})"
        )


if __name__ == "__main__":
    main()
