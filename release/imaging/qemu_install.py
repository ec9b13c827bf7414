"""`installer: qemu`: the EL installer of an install tree, booted in QEMU directly (no libvirt).

The way Packer's qemu builder and the CentOS SIG's koji/oz do it: boot the tree's own
`images/pxeboot/vmlinuz` and `initrd.img` with the kickstart's location on the kernel
command line, the kickstart on a small disk labelled OEMDRV or served over HTTP on the
host's loopback (the guest sees it at 10.0.2.2 through user-mode networking), stream the
serial console into a log, and wait, within a deadline, for the guest to power itself off.
The argv, the boot arguments and the reading of the console are pure; `install` does the IO.
"""

from __future__ import annotations

import collections
import logging
import os
import re
import select
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from release import fsutil, runner
from release.errors import InvalidInput, OperationError

log = logging.getLogger("release.progress")

Accel = Literal["auto", "kvm", "tcg"]
Delivery = Literal["oemdrv", "http"]
KVM_DEVICE = Path("/dev/kvm")
# Measured with the stand-in installer (bench/build.py) and reported by the CentOS SIG and
# Packer users: software emulation runs an install several times slower than KVM.
TCG_SLOW = (
    "the installer runs under TCG (software emulation), typically 5 to 20 times slower than"
    " with KVM (an EL7 install: minutes with KVM, about an hour under TCG)"
)
OEMDRV_LABEL = "OEMDRV"
OEMDRV_KIB = 1440
TAIL_LINES = 30
AFTER_FAILURE = 20  # console lines kept after the failure's line (a panic's trace)
FAILURE_GRACE = 3.0  # seconds of console kept after a failure line (a panic's trace)
BOOT_LIMIT = 300.0  # seconds for the kernel's first line (TCG on a loaded host: ~10)
DEFAULT_DEADLINE = 4 * 3600  # seconds for the whole install, TCG included


@dataclass(frozen=True)
class Guest:
    accel: Literal["kvm", "tcg"]
    memory_mib: int
    cpus: int
    kernel: Path
    initrd: Path
    append: str
    disk: Path
    oemdrv: Path | None = None
    iso: Path | None = None


def kvm_usable(device: Path = KVM_DEVICE) -> bool:
    """Whether this process can use KVM: the device opens read-write (what QEMU needs)."""
    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def choose_accel(requested: Accel, usable: bool) -> Literal["kvm", "tcg"]:
    if requested == "kvm" and not usable:
        raise InvalidInput(
            f"--accel kvm: {KVM_DEVICE} cannot be opened read-write by this user (load the"
            " kvm module, add the user to the kvm group, or use --accel tcg)"
        )
    if requested == "auto":
        return "kvm" if usable else "tcg"
    return requested


def tcg_note(requested: Accel) -> str:
    why = "as asked (--accel tcg)" if requested == "tcg" else f"no usable {KVM_DEVICE}"
    return f"{why}: {TCG_SLOW}"


def ks_location(el: int, delivery: Delivery, url: str | None) -> str:
    """Where the installer finds the kickstart. EL7's dracut finds `ks.cfg` on a disk
    labelled OEMDRV by itself; naming it keeps EL6 (whose loader wants a device) the same."""
    if delivery == "http":
        if not url:
            raise ValueError("http delivery needs the server's URL")
        return url
    return "hd:vdb:/ks.cfg" if el == 6 else f"hd:LABEL={OEMDRV_LABEL}:/ks.cfg"


def boot_args(el: int, ks: str, iso: bool) -> str:
    """EL6's anaconda reads `ks=`, EL7's `inst.ks=`; names eth0 the way the image will
    (`network --device=eth0` must match); the console on the serial line we log; a panic
    ends the VM after a second instead of hanging until the deadline."""
    prefix = "" if el == 6 else "inst."
    args = [f"{prefix}ks={ks}", "net.ifnames=0", "biosdevname=0", "console=ttyS0", "panic=1"]
    if iso:
        args.append(f"{prefix}repo=cdrom")
    return " ".join(args)


def qemu_argv(guest: Guest) -> list[str]:
    argv = [
        "qemu-system-x86_64",
        "-accel",
        guest.accel,
        "-m",
        str(guest.memory_mib),
        "-smp",
        str(guest.cpus),
        "-nodefaults",
        "-display",
        "none",
        "-serial",
        "stdio",
        "-no-reboot",  # a guest that reboots instead of powering off ends the run too
        "-kernel",
        str(guest.kernel),
        "-initrd",
        str(guest.initrd),
        "-append",
        guest.append,
        # cache=unsafe: nothing is flushed until QEMU exits; the disk is read only after.
        "-drive",
        f"file={guest.disk},format=raw,if=virtio,cache=unsafe",
        "-netdev",
        "user,id=net0",
        "-device",
        "virtio-net-pci,netdev=net0",
    ]
    if guest.oemdrv:
        argv += ["-drive", f"file={guest.oemdrv},format=raw,if=virtio,readonly=on"]
    if guest.iso:
        argv += ["-drive", f"file={guest.iso},media=cdrom,readonly=on"]
    return argv


def with_install_disk(text: str) -> str:
    """Keep the installer off the OEMDRV disk (`clearpart --all` would wipe it)."""
    return text.replace("\nzerombr\n", "\nignoredisk --only-use=vda\nzerombr\n", 1)


def oemdrv_argvs(image: Path, ks: Path) -> list[list[str]]:
    """A FAT disk labelled OEMDRV holding ks.cfg, made without mounting (dosfstools, mtools):
    FAT is what Red Hat documents for OEMDRV and what every EL installer mounts."""
    return [
        ["mkfs.vfat", "-C", "-n", OEMDRV_LABEL, str(image), str(OEMDRV_KIB)],
        ["mcopy", "-i", str(image), str(ks), "::ks.cfg"],
    ]


# What anaconda prints on the serial console, in order; each becomes one progress line.
_STEPS = re.compile(
    r"(Starting installer|Starting automated install|Setting up the installation environment"
    r"|Creating disklabel on \S+|Creating \S+ on \S+|Running pre-installation scripts"
    r"|Starting package installation process|Preparing transaction from installation source"
    r"|Performing post-installation setup tasks|Configuring installed system"
    r"|Installing bootloader|Running post-installation scripts|Installation complete"
    r"|Power down)"
)
_INSTALLING = re.compile(r"Installing (\S+) \((\d+)/(\d+)\)")
_FAILURES = re.compile(
    r"(Kernel panic - not syncing.*|Traceback \(most recent call last\)"
    r"|An error occurred running a post-installation script|The installation was stopped.*"
    r"|installation will now terminate|Pane is dead)"
)
_POWER_OFF = re.compile(r"(reboot: )?Power down\.?\s*$")


def step_of(line: str) -> str | None:
    """The installer's step a console line announces (packages: at each tenth), or None."""
    installing = _INSTALLING.search(line)
    if installing:
        done, total = int(installing.group(2)), int(installing.group(3))
        if total and (done in (1, total) or done * 10 // total != (done - 1) * 10 // total):
            return f"installing packages: {done}/{total} ({installing.group(1)})"
        return None
    found = _STEPS.search(line)
    return found.group(1) if found else None


def failure_of(line: str) -> str | None:
    found = _FAILURES.search(line)
    return found.group(1).strip() if found else None


class InstallFailed(OperationError):
    def __init__(self, what: str, tail: list[str], console: Path) -> None:
        shown = "\n".join(f"  | {line}" for line in tail) or "  | (the console printed nothing)"
        super().__init__(
            f"the installer {what}; the console's last lines:\n{shown}\n(full console log:"
            f" {console})"
        )


@dataclass
class _Console:
    """The console as it streams: the log file, the tail, the lines seen so far."""

    log_file: Path
    tail: collections.deque[str]
    partial: str = ""
    powered_off: bool = False
    booted: bool = False  # the kernel's banner was seen
    failure: str | None = None
    after_failure: int = 0

    def feed(self, chunk: bytes, label: str) -> None:
        text = self.partial + chunk.decode("utf-8", errors="replace").replace("\r", "")
        *lines, self.partial = text.split("\n")
        for line in lines:
            if self.failure is None or self.after_failure < AFTER_FAILURE:
                self.tail.append(line)  # after a failure: its line stays in view
                self.after_failure += self.failure is not None
            step = step_of(line)
            if step:
                log.info("%s: installer: %s", label, step)
            self.failure = self.failure or failure_of(line)
            self.powered_off = self.powered_off or bool(_POWER_OFF.search(line))
            self.booted = self.booted or "Linux version" in line


@dataclass
class _Clock:
    deadline: float  # seconds, as given
    end: float  # monotonic time the install must end by
    boot_by: float  # monotonic time the kernel must have printed its banner by
    boot_limit: float  # seconds, as given


def run_guest(
    argv: list[str], console_log: Path, deadline: float, label: str, boot_limit: float = BOOT_LIMIT
) -> None:
    """Run the VM until it exits; raise InstallFailed (with the console's tail) unless it
    powered itself off without a failure on the console, within `deadline` seconds, its
    kernel's banner within `boot_limit`."""
    console = _Console(console_log, collections.deque(maxlen=TAIL_LINES))
    console_log.parent.mkdir(parents=True, exist_ok=True)
    now = time.monotonic()
    boot_limit = min(boot_limit, deadline)
    clock = _Clock(deadline, now + deadline, now + boot_limit, boot_limit)
    with tempfile.TemporaryFile() as err, console_log.open("wb") as sink:
        proc = runner.spawn(argv, stderr=err)
        try:
            _pump(proc, console, sink, clock, label)
            code = proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err.seek(0)
        stderr = err.read()[-4000:].decode(errors="replace").strip()
    if console.partial:
        console.tail.append(console.partial)
    tail = list(console.tail)
    if console.failure:
        raise InstallFailed(f"failed ({console.failure})", tail, console_log)
    if code != 0:
        raise InstallFailed(f"VM exited with status {code}: {stderr}", tail, console_log)
    if not console.powered_off:
        raise InstallFailed(
            "stopped without powering off (a reboot? the kickstart must end in poweroff)",
            tail,
            console_log,
        )


def _pump(
    proc: subprocess.Popen[bytes], console: _Console, sink: object, clock: _Clock, label: str
) -> None:
    if proc.stdout is None:
        raise OperationError("qemu was started without a console pipe")
    fd = proc.stdout.fileno()
    while True:
        now = time.monotonic()
        if now >= clock.end and console.failure:
            proc.kill()  # anaconda waits at a prompt after a failure: stop it now
            return
        if now >= clock.end or (not console.booted and now >= clock.boot_by):
            proc.kill()
            raise InstallFailed(
                _overdue(console.booted, clock), list(console.tail), console.log_file
            )
        ready, _, _ = select.select([fd], [], [], min(clock.end - now, 1.0))
        if not ready:
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return
        sink.write(chunk)  # type: ignore[attr-defined]
        had_failed = console.failure is not None
        console.feed(chunk, label)
        if console.failure and not had_failed:
            clock.end = min(clock.end, time.monotonic() + FAILURE_GRACE)  # the trace


def _overdue(booted: bool, clock: _Clock) -> str:
    if booted:
        return (
            f"did not finish within the deadline ({clock.deadline:.0f} s; raise it with"
            " --install-deadline, or use KVM)"
        )
    return (
        f"'s kernel printed nothing within {clock.boot_limit:.0f} s of starting (KVM that hangs its"
        " guests, as on some nested-virtualisation hosts? try --accel tcg)"
    )


def make_oemdrv(image: Path, ks_text: str) -> None:
    with tempfile.TemporaryDirectory(prefix="release-ks-") as tmp:
        ks = Path(tmp, "ks.cfg")
        fsutil.write_text(ks, ks_text)
        for argv in oemdrv_argvs(image, ks):
            runner.run(argv)
