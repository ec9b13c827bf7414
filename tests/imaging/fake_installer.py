#!/usr/bin/env python3
"""A stand-in for livemedia-creator and koji (neither can run here: no lorax on Debian, no
koji hub): records its argv and the kickstart it was given, then leaves a disk where the
real tool would.

With FAKE_DISK set to a file, that file is the disk. With FAKE_DISK=install, it carries the
kickstart out the way anaconda does, on the fixture repos: dnf installs `%packages` (an
excluded package still comes in as a dependency, as in anaconda), the image's own
systemctl/chkconfig applies `services`, each `%post` runs in the installed system (chroot) or
beside it (--nochroot, with ANA_INSTALL_PATH), and the tree becomes an ext4 partition on a
raw disk. Partitioning and the bootloader are not carried out: tests read those from the
kickstart.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pykickstart.constants import KS_SCRIPT_POST
from pykickstart.parser import KickstartParser
from pykickstart.version import RHEL6, RHEL7, makeVersion

DISK_BYTES = 64 << 20
START = 1 << 20


def install(ks_text: str, dest: Path) -> None:
    el = 6 if ", EL6 " in ks_text.splitlines()[0] else 7
    parser = KickstartParser(makeVersion(RHEL6 if el == 6 else RHEL7))
    parser.readKickstartFromString(ks_text)
    ks = parser.handler
    work = Path(tempfile.mkdtemp(prefix="fake-anaconda-"))
    try:
        tree, home = work / "sysimage", work / "home"
        home.mkdir()
        (home / ".rpmmacros").write_text("%_dbpath /var/lib/rpm\n")
        env = {**os.environ, "HOME": str(home)}
        sources = [("os", ks.url.url)] + [(r.name, r.baseurl) for r in ks.repo.repoList]
        argv = ["dnf", "-y", "-q", f"--installroot={tree}", f"--releasever={el}"]
        argv += ["--setopt=reposdir=/dev/null", "--disablerepo=*", "--setopt=install_weak_deps=0"]
        argv += [f"--setopt=cachedir={work / 'cache'}", "--setopt=keepcache=False"]
        for name, url in sources:
            argv += [f"--repofrompath={name},{url}", f"--setopt={name}.gpgcheck=0"]
            argv.append(f"--enablerepo={name}")
        subprocess.run([*argv, "install", *ks.packages.packageList], env=env, check=True)
        shutil.rmtree(tree / str(work).lstrip("/"), ignore_errors=True)
        shadow = tree / "etc" / "shadow"
        if ks.rootpw.lock and shadow.is_file():  # anaconda locks root: a "!" before the hash
            entries = [line.split(":") for line in shadow.read_text().splitlines()]
            for entry in entries:
                if entry[0] == "root" and not entry[1].startswith("!"):
                    entry[1] = "!" + entry[1]
            shadow.write_text("".join(":".join(entry) + "\n" for entry in entries))
        tool = ["/usr/bin/systemctl"] if el == 7 else ["/sbin/chkconfig"]
        for names, state in ((ks.services.disabled, "off"), (ks.services.enabled, "on")):
            for name in names:  # anaconda logs a service it cannot switch and goes on
                args = [name, state] if el == 6 else [{"on": "enable"}.get(state, "disable"), name]
                subprocess.run(["chroot", str(tree), *tool, *args], check=False)
        for script in ks.scripts:
            if script.type != KS_SCRIPT_POST:
                continue
            if script.inChroot:
                run = ["chroot", str(tree), "/bin/sh", "-c", script.script]
            else:
                run = ["/bin/sh", "-c", script.script]
            done = subprocess.run(run, env={**env, "ANA_INSTALL_PATH": str(tree)}, check=False)
            if done.returncode and script.errorOnFail:
                sys.exit(f"fake installer: a %post --erroronfail failed ({done.returncode})")
        with dest.open("wb") as fh:
            fh.truncate(DISK_BYTES)
        subprocess.run(
            ["sfdisk", "-q", str(dest)], input=b"start=2048, type=83, bootable\n", check=True
        )
        blocks = (DISK_BYTES - START) // 4096
        mkfs = ["mkfs.ext4", "-q", "-F", "-b", "4096", "-E", f"offset={START}", "-d", str(tree)]
        subprocess.run([*mkfs, str(dest), str(blocks)], check=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


tool = Path(sys.argv[0]).name
args = sys.argv[1:]
if args == ["--version"]:
    print(f"{tool} 0.0-fake")
    sys.exit(0)
log = Path(os.environ["FAKE_LOG"])
record = {"tool": tool, "argv": args}
ks = next(
    (args[i + 1] for i, a in enumerate(args) if a in ("--ks", "--kickstart")),
    None,
)
if ks:
    record["kickstart"] = Path(ks).read_text()
with log.open("a") as fh:
    fh.write(json.dumps(record) + "\n")
if os.environ["FAKE_DISK"] == "install":
    disk = log.with_name(f"installed-{os.getpid()}.raw")
    install(str(record["kickstart"]), disk)
else:
    disk = Path(os.environ["FAKE_DISK"])
if tool == "livemedia-creator":
    result = Path(args[args.index("--resultdir") + 1])
    result.mkdir(parents=True)
    shutil.copyfile(disk, result / args[args.index("--image-name") + 1])
elif tool == "koji" and args[0] == "image-build":
    print("Created task: 4242")
    print("Task 4242 completed successfully")
elif tool == "koji" and args[0] == "download-task":
    shutil.copyfile(disk, Path.cwd() / "fixture-4242.x86_64.raw")
else:
    sys.exit(f"fake installer: unexpected call {tool} {args}")
