"""The pure parts of `installer: qemu` (accel, boot arguments, argv, the console reading),
the install tree (directory, URL, ISO read with xorriso) and the kickstart server."""

from __future__ import annotations

import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from release.errors import InvalidInput
from release.imaging import installtree, ksserver
from release.imaging import qemu_install as qi

KS = "url --url=http://mirror.example/centos/7/os/x86_64/\ntext\nzerombr\npoweroff\n"


def test_kvm_when_the_device_opens_read_write_else_tcg(tmp_path: Path) -> None:
    device = tmp_path / "kvm"
    device.write_bytes(b"")
    assert qi.kvm_usable(device) is True
    assert qi.choose_accel("auto", qi.kvm_usable(device)) == "kvm"
    missing = qi.kvm_usable(tmp_path / "none")
    assert missing is False and qi.choose_accel("auto", missing) == "tcg"
    assert qi.choose_accel("tcg", True) == "tcg"
    with pytest.raises(InvalidInput, match=r"--accel kvm: .* use --accel tcg"):
        qi.choose_accel("kvm", False)
    assert "5 to 20 times slower" in qi.tcg_note("auto") and "no usable /dev/kvm" in qi.tcg_note(
        "auto"
    )


def test_boot_args_per_el() -> None:
    el6 = qi.boot_args(6, qi.ks_location(6, "oemdrv", None), iso=False)
    assert el6 == "ks=hd:vdb:/ks.cfg net.ifnames=0 biosdevname=0 console=ttyS0 panic=1"
    el7 = qi.boot_args(7, qi.ks_location(7, "http", "http://10.0.2.2:8000/ks.cfg"), iso=True)
    assert el7 == (
        "inst.ks=http://10.0.2.2:8000/ks.cfg net.ifnames=0 biosdevname=0 console=ttyS0"
        " panic=1 inst.repo=cdrom"
    )
    assert qi.ks_location(7, "oemdrv", None) == "hd:LABEL=OEMDRV:/ks.cfg"


def test_qemu_argv() -> None:
    guest = qi.Guest(
        "tcg", 2048, 2, Path("/t/vmlinuz"), Path("/t/initrd.img"), "a b", Path("/w/d.raw"),
        oemdrv=Path("/w/oemdrv.img"), iso=Path("/i/dvd.iso"),
    )  # fmt: skip
    argv = qi.qemu_argv(guest)
    assert argv[:3] == ["qemu-system-x86_64", "-accel", "tcg"]
    assert argv[argv.index("-append") + 1] == "a b"
    assert "-no-reboot" in argv and argv[argv.index("-serial") + 1] == "stdio"
    drives = [argv[i + 1] for i, a in enumerate(argv) if a == "-drive"]
    assert drives == [
        "file=/w/d.raw,format=raw,if=virtio,cache=unsafe",
        "file=/w/oemdrv.img,format=raw,if=virtio,readonly=on",
        "file=/i/dvd.iso,media=cdrom,readonly=on",
    ]
    assert argv[argv.index("-netdev") + 1] == "user,id=net0"


def test_the_console_steps_and_failures() -> None:
    assert qi.step_of("Starting package installation process") == (
        "Starting package installation process"
    )
    assert qi.step_of("Installing bash (1/300)") == "installing packages: 1/300 (bash)"
    assert qi.step_of("Installing glibc (2/300)") is None  # only at each tenth
    assert qi.step_of("Installing zlib (30/300)") == "installing packages: 30/300 (zlib)"
    assert qi.step_of("[    1.0] random kernel line") is None
    assert qi.failure_of("[ 9.1] Kernel panic - not syncing: VFS: Unable to mount root") == (
        "Kernel panic - not syncing: VFS: Unable to mount root"
    )
    assert qi.failure_of("Traceback (most recent call last):") is not None
    assert qi.failure_of("Installing kernel (5/9)") is None


def test_run_guest_needs_a_power_off(tmp_path: Path) -> None:
    """A VM that exits 0 without the kernel's power-down line rebooted (or was stopped)."""
    with pytest.raises(qi.InstallFailed, match=r"without powering off.*\n  \| rebooting"):
        qi.run_guest(["sh", "-c", "echo rebooting"], tmp_path / "c.log", 10, "v")
    qi.run_guest(["sh", "-c", "echo '[ 1.2] reboot: Power down'"], tmp_path / "c.log", 10, "v")
    with pytest.raises(qi.InstallFailed, match=r"VM exited with status 3: bad disk"):
        qi.run_guest(["sh", "-c", "echo bad disk >&2; exit 3"], tmp_path / "c.log", 10, "v")
    assert (tmp_path / "c.log").read_text() == ""


def test_run_guest_stops_a_guest_whose_kernel_never_starts(tmp_path: Path) -> None:
    """What a KVM that hangs its guests looks like (this machine's does): the firmware's
    banner, then nothing; the install stops at the boot limit, not at the deadline."""
    started = time.monotonic()
    with pytest.raises(qi.InstallFailed, match=r"kernel printed nothing within 2 s.*--accel tcg"):
        qi.run_guest(["sh", "-c", "echo SeaBIOS; exec sleep 60"], tmp_path / "c.log", 60, "v", 2)
    assert time.monotonic() - started < 10
    assert (tmp_path / "c.log").read_text() == "SeaBIOS\n"


def test_oemdrv_disk_holds_the_kickstart(tmp_path: Path) -> None:
    image = tmp_path / "oemdrv.img"
    qi.make_oemdrv(image, KS)
    label = subprocess.run(["blkid", "-o", "value", "-s", "LABEL", str(image)], capture_output=True)
    assert label.stdout.decode().strip() == "OEMDRV"
    read = subprocess.run(["mtype", "-i", str(image), "::ks.cfg"], capture_output=True, check=True)
    assert read.stdout.decode() == KS


def test_the_kickstart_keeps_off_the_oemdrv_disk() -> None:
    assert "ignoredisk --only-use=vda\nzerombr\n" in qi.with_install_disk(KS)


def _tree(root: Path) -> Path:
    pxe = root / "images" / "pxeboot"
    pxe.mkdir(parents=True)
    (pxe / "vmlinuz").write_bytes(b"K" * 100)
    (pxe / "initrd.img").write_bytes(b"I" * 50)
    return root


def test_tree_from_a_directory_and_the_kickstart_it_gets(tmp_path: Path) -> None:
    tree = installtree.resolve(f"file://{_tree(tmp_path / 'os')}")
    assert tree.kind == "dir"
    kernel, initrd = installtree.boot_files(tree, tmp_path / "got")
    assert kernel.read_bytes() == b"K" * 100 and initrd.read_bytes() == b"I" * 50
    served = installtree.kickstart_for(KS, tree, "http://10.0.2.2:9/tree/")
    assert served.startswith("url --url=http://10.0.2.2:9/tree/\n")
    with pytest.raises(InvalidInput, match=r"not an http\(s\) URL, an existing directory or"):
        installtree.resolve(str(tmp_path / "nothing"))


def test_tree_from_an_iso(tmp_path: Path) -> None:
    iso = tmp_path / "dvd.iso"
    subprocess.run(
        ["xorriso", "-as", "mkisofs", "-quiet", "-V", "CentOS 7 x86_64", "-o", str(iso),
         str(_tree(tmp_path / "dvd"))],
        check=True, capture_output=True,
    )  # fmt: skip
    tree = installtree.resolve(str(iso))
    kernel, initrd = installtree.boot_files(tree, tmp_path / "got")
    assert kernel.read_bytes() == b"K" * 100 and initrd.read_bytes() == b"I" * 50
    assert installtree.kickstart_for(KS, tree, None).startswith("cdrom\ntext\n")
    (tmp_path / "dvd" / "images" / "pxeboot" / "initrd.img").unlink()
    subprocess.run(
        ["xorriso", "-as", "mkisofs", "-quiet", "-o", str(tmp_path / "bad.iso"),
         str(tmp_path / "dvd")],
        check=True, capture_output=True,
    )  # fmt: skip
    with pytest.raises(InvalidInput, match=r"bad.iso: no images/pxeboot/initrd.img"):
        installtree.boot_files(installtree.resolve(str(tmp_path / "bad.iso")), tmp_path / "x")


@pytest.fixture
def http_tree(tmp_path: Path) -> Iterator[str]:
    root = _tree(tmp_path / "www" / "os")
    (root / "images" / "pxeboot" / "initrd.img").unlink()

    def handler(*args: object) -> SimpleHTTPRequestHandler:
        return SimpleHTTPRequestHandler(*args, directory=str(tmp_path / "www"))  # type: ignore[arg-type]

    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/os"
    server.shutdown()
    server.server_close()
    thread.join()


def test_tree_from_a_url_names_what_is_missing(http_tree: str, tmp_path: Path) -> None:
    tree = installtree.resolve(http_tree)
    assert tree.where.endswith("/os/")
    assert installtree.kickstart_for(KS, tree, None).startswith(f"url --url={http_tree}/\ntext")
    with pytest.raises(InvalidInput, match=r"/os/: no images/pxeboot/initrd.img"):
        installtree.boot_files(tree, tmp_path / "got")
    assert (tmp_path / "got" / "vmlinuz").read_bytes() == b"K" * 100


def test_the_kickstart_server_serves_the_kickstart_and_the_tree_only(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "os")
    (tmp_path / "secret").write_text("no")
    (tree / "link").symlink_to(tmp_path / "secret")
    with ksserver.serving(b"ks text", tree) as server:
        base = f"http://127.0.0.1:{server.port}"
        assert urllib.request.urlopen(f"{base}/ks.cfg").read() == b"ks text"  # noqa: S310
        got = urllib.request.urlopen(f"{base}/tree/images/pxeboot/vmlinuz").read()  # noqa: S310
        assert got == b"K" * 100
        for bad in ("/tree/../secret", "/tree/%2e%2e/secret", "/tree/link", "/secret", "/tree/"):
            with pytest.raises(urllib.error.HTTPError, match="404"):
                urllib.request.urlopen(base + bad)  # noqa: S310
        assert server.guest_url("ks.cfg") == f"http://10.0.2.2:{server.port}/ks.cfg"
    assert server.requests[:2] == ["/ks.cfg", "/tree/images/pxeboot/vmlinuz"]
