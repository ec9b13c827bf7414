"""`release demo` end to end, checked only with tools we did not write: coreutils checksums,
gpg 2 and gpg 1.4, qemu-img, GNU tar and a QEMU boot of the published images."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from release.cli import cli, main
from release.demo.story import BY_HAND_END, BY_HAND_START, NEXT_EL7
from release.imaging import reproducible

pytestmark = pytest.mark.slow

MARKER = "IMAGE-RELEASE-BOOT-MARKER"
VARIANTS = ("openstack", "cloudstack", "aws", "gce")
NEWEST = {"demo-el6": "6.10.1", "demo-el7": "7.9.2"}


def demo_argv(directory: Path) -> list[str]:
    if "demo" in getattr(cli, "commands", {}):
        return [sys.executable, "-m", "release", "demo", str(directory)]
    return [sys.executable, "-m", "release.cli.demo_cmds", str(directory)]


def run(argv: list[str], cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **env} if env else None, check=False)  # fmt: skip
    assert done.returncode == 0, f"{argv}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """The demo directory after a first run, and the output of a second run."""
    root = tmp_path_factory.mktemp("demo") / "d"
    try:
        first = run(demo_argv(root))
        assert "OK: 31 files match their signed digests" in first.stdout, first.stdout[-3000:]
        assert "generated (RSA 3072)" in first.stdout and "index: ok: el7-stable" in first.stdout
        second = run(demo_argv(root))
        yield root, second.stdout
    finally:
        subprocess.run(["gpgconf", "--homedir", str(root / "gnupg"), "--kill", "all"],
                       check=False, capture_output=True)  # fmt: skip


def release_dirs(mirror: Path) -> list[Path]:
    return sorted(p.parent for p in mirror.glob("*/*/manifest.json"))


def test_a_second_run_reuses_everything(demo: tuple[Path, str]) -> None:
    _, output = demo
    for line in ("package repo el6: reused", "signing key", "config repo: reused",
                 "is at 7.9.2 already: reused", "pinned to 7.9.2 already: reused",
                 "nothing to do: every target already has what git asks for"):  # fmt: skip
        assert line in output, output
    assert "(built)" not in output and "files sent" not in output


def test_the_mirror_holds_every_release_and_channel_index(demo: tuple[Path, str]) -> None:
    root, _ = demo
    dirs = release_dirs(root / "mirror")
    assert [d.relative_to(root / "mirror").as_posix() for d in dirs] == [
        "demo-el6/6.10.1", "demo-el7/7.9.1", "demo-el7/7.9.2"]  # fmt: skip
    channels = sorted(p.name for p in (root / "mirror" / "channels").glob("*.json"))
    names = ("el6-stable", "el6-testing", "el7-stable", "el7-testing", "snapshot")
    assert channels == [f"{name}.json" for name in names]
    assert '"7.9.2"' in (root / "config" / "channels" / "el7-stable.yaml").read_text()
    assert (
        not list((root / "config").rglob("*secring*")) and not (root / "config" / "gnupg").exists()
    )


@pytest.mark.parametrize("tool", ["md5sum", "sha1sum", "sha256sum"])
def test_coreutils_check_every_release(demo: tuple[Path, str], tool: str) -> None:
    root, _ = demo
    for directory in release_dirs(root / "mirror"):
        out = run([tool, "-c", "--strict", f"{tool}.txt"], cwd=directory).stdout
        # 4 variants x (5 formats, package list, SBOM), the manifest, its signature, provenance
        assert out.count(": OK") == 31 and "FAILED" not in out, out


def signed_files(mirror: Path) -> list[Path]:
    files = [d / n for d in release_dirs(mirror)
             for n in ("md5sum.txt", "sha1sum.txt", "sha256sum.txt", "manifest.json")]  # fmt: skip
    return files + sorted((mirror / "channels").glob("*.json"))


@pytest.mark.parametrize("gpg", ["gpg", "/usr/bin/gpg1"])
def test_gpg_2_and_1_4_verify_every_signature_with_the_published_key(
    demo: tuple[Path, str], gpg: str
) -> None:
    root, _ = demo
    fingerprint = (root / "config" / "keys" / "trust.yaml").read_text().split("fingerprint: ")[1]
    home = Path(tempfile.mkdtemp(dir="/tmp", prefix="dv-"))
    try:
        run([gpg, "--homedir", str(home), "--batch", "--import",
             str(root / "config" / "keys" / "demo.asc")])  # fmt: skip
        for signed in signed_files(root / "mirror"):
            done = run([gpg, "--homedir", str(home), "--batch", "--status-fd", "1", "--verify",
                        f"{signed}.asc", str(signed)])  # fmt: skip
            assert f"VALIDSIG {fingerprint.split()[0]}" in done.stdout, (signed, done.stdout)
        tampered = home / "sha256sum.txt"
        tampered.write_text((signed_files(root / "mirror")[2]).read_text() + "x  y\n")
        bad = subprocess.run([gpg, "--homedir", str(home), "--batch", "--verify",
                              f"{signed_files(root / 'mirror')[2]}.asc", str(tampered)],
                             capture_output=True, check=False)  # fmt: skip
        assert bad.returncode != 0
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)
        shutil.rmtree(home, ignore_errors=True)


def newest(root: Path) -> list[Path]:
    """The base path (without extension) of every variant of each image's newest release."""
    return [root / "mirror" / image / version / f"{image}-{version}-{variant}"
            for image, version in NEWEST.items() for variant in VARIANTS]  # fmt: skip


def compare(fmt: str, image: Path, raw: Path) -> None:
    out = run(["qemu-img", "compare", "-f", fmt, "-F", "raw", str(image), str(raw)]).stdout
    assert "Images are identical" in out, out


def test_qemu_img_finds_the_same_disk_in_every_format(demo: tuple[Path, str]) -> None:
    root, _ = demo
    for base in newest(root):
        raw = base.with_name(base.name + ".raw")
        qcow2 = base.with_name(base.name + ".qcow2")
        assert (
            "No errors were found" in run(["qemu-img", "check", "-f", "qcow2", str(qcow2)]).stdout
        )
        compare("qcow2", qcow2, raw)
        compare("vpc", base.with_name(base.name + ".vhd"), raw)


def test_the_gce_tar_holds_only_disk_raw_and_it_is_the_disk(
    demo: tuple[Path, str], tmp_path: Path
) -> None:
    root, _ = demo
    for base in newest(root):
        archive = base.with_name(base.name + ".tar.gz")
        listing = run(["tar", "-tvzf", str(archive)]).stdout.splitlines()
        assert len(listing) == 1 and listing[0].endswith(" disk.raw"), listing
        run(["tar", "-xzSf", str(archive), "-C", str(tmp_path)])
        compare("raw", tmp_path / "disk.raw", base.with_name(base.name + ".raw"))
        (tmp_path / "disk.raw").unlink()


def test_the_ova_is_ovf_then_manifest_then_disk(demo: tuple[Path, str], tmp_path: Path) -> None:
    root, _ = demo
    for base in newest(root):
        ova = base.with_name(base.name + ".ova")
        members = run(["tar", "-tf", str(ova)]).stdout.split()
        assert [m.rsplit(".", 1)[1] for m in members] == ["ovf", "mf", "vmdk"], members
        run(["tar", "-xf", str(ova), "-C", str(tmp_path), members[2]])
        compare("vmdk", tmp_path / members[2], base.with_name(base.name + ".raw"))
        (tmp_path / members[2]).unlink()


def boot(image: Path, fmt: str) -> str:
    drive = f"file={image},format={fmt},if=virtio"
    argv = ["qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-nographic", "-no-reboot",
            "-net", "none", "-drive", drive, "-snapshot"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, timeout=180, check=False)
    return done.stdout.decode(errors="replace")


@pytest.mark.parametrize(("suffix", "fmt"), [(".qcow2", "qcow2"), (".vhd", "vpc")])
def test_the_published_image_boots_to_its_own_init(
    demo: tuple[Path, str], suffix: str, fmt: str
) -> None:
    root, _ = demo
    image = (root / "config" / "images" / "demo-el7.yaml").read_text()
    assert "boot-kernel" in image, "the demo fell back to the stand-in kernel (no apt archive?)"
    base = newest(root)[-1]  # demo-el7 7.9.2 gce
    console = boot(base.with_name(base.name + suffix), fmt)
    assert MARKER in console, console[-3000:]


def test_the_demo_ends_with_the_front_page_and_the_status(demo: tuple[Path, str]) -> None:
    root, output = demo
    front = root / "mirror" / "index.html"
    assert f"front page: {front}" in output and front.is_file()
    status = output.split("== release status", 1)[1].split("\n== ", 1)[0]
    assert "el7-stable" in status and "demo-el7 7.9.2" in status
    assert "in sync at " in status and "DRIFT" not in status


def test_demo_serve_answers_a_browser_on_loopback_and_stops(demo: tuple[Path, str]) -> None:
    root, _ = demo
    argv = [*demo_argv(root), "--serve", "--port", "0"]
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = ""
        for line in server.stdout:
            if line.startswith("serving "):
                url = line.split(" at ", 1)[1].split()[0]
                break
        assert url.startswith("http://127.0.0.1:"), server.stderr.read() if server.stderr else ""
        for page, text in (("index.html", b"el7-stable"), ("demo-el7/7.9.2/index.html", b"7.9.2")):
            answer = requests.get(url + page, timeout=10)
            assert answer.status_code == 200 and text in answer.content
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=5)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


@pytest.mark.slow
def test_the_published_release_rebuilds_to_identical_bytes(
    demo: tuple[Path, str], tmp_path: Path
) -> None:
    """`release rebuild` of a published release: same digests for every artifact, package
    list and SBOM the provenance names, built again from its commit and SDE elsewhere."""
    root, _ = demo
    release = root / "mirror" / "demo-el7" / "7.9.2"
    done = subprocess.run(
        [sys.executable, "-m", "release", "rebuild", str(release), "--keys",
         str(root / "config" / "keys"), "--work", str(tmp_path / "w"), "--json"],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(done.stdout)
    # 4 variants x (5 formats, package list, SBOM)
    assert report["ok"] and len(report["identical"]) == 28 and report["differing"] == []
    assert sorted(p.name for p in (tmp_path / "w" / "rebuilt").iterdir()) == report["identical"]


@pytest.mark.slow
def test_a_rebuild_that_differs_names_the_byte_ranges(
    demo: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """A build that lets the clock in (no time clamping) differs: exit 3, and the first range
    reported starts where `cmp` finds the first differing byte."""
    root, _ = demo
    release = root / "mirror" / "demo-el7" / "7.9.2"
    monkeypatch.setattr(reproducible, "clamp_times", lambda tree, sde: 0)
    keys = str(root / "config" / "keys")
    argv = ["release", "rebuild", str(release), "--keys", keys, "--work", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 3
    out = capsys.readouterr().out
    name = "demo-el7-7.9.2-aws.raw"
    line = next(x for x in out.splitlines() if x.startswith(f"DIFFERS {name}: bytes "))
    first = int(line.split("bytes ")[1].split("-")[0])
    cmp = subprocess.run(["cmp", str(release / name), str(tmp_path / "rebuilt" / name)],
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert cmp.returncode == 1 and f"byte {first + 1}," in cmp.stdout, (cmp.stdout, line)
    assert "DIFFERS demo-el7-7.9.2-aws.packages" not in out  # the package set is the same


def test_the_printed_by_hand_commands_release_a_bump(demo: tuple[Path, str]) -> None:
    """Last in this module: it changes the demo world (demo-el7 goes to 7.9.3)."""
    root, output = demo
    block = output.split(BY_HAND_START + "\n", 1)[1].split("\n" + BY_HAND_END, 1)[0]
    assert f"--gnupghome {root / 'gnupg'}" in block
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], capture_output=True,
                          text=True, timeout=900, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "in sync at " in done.stdout  # the closing `release status`
    index = json.loads((root / "mirror" / "channels" / "el7-testing.json").read_bytes())
    assert index["current"]["version"] == NEXT_EL7
    assert (root / "mirror" / "demo-el7" / NEXT_EL7 / "index.html").is_file()
