"""The demo's pure parts: the config repo it writes is valid, argv, key listing parsing."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests

from release.config.loader import load
from release.config.source import WorkTree
from release.demo import world
from release.demo.repo import SPECS, createrepo_argv, rpmbuild_argv
from release.demo.serve import serve
from release.demo.signing_key import ensure_key, export_public, gen_key_argv, secret_fingerprints
from release.demo.story import DemoPaths, by_hand, tree
from release.errors import InvalidInput

FPR = "0123456789ABCDEF0123456789ABCDEF01234567"


def write(files: dict[str, bytes], root: Path) -> Path:
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return root


def test_the_demo_config_repo_loads_without_problems(tmp_path: Path) -> None:
    repos = {6: tmp_path / "el6", 7: tmp_path / "el7"}
    files = world.config_files(repos, "boot-kernel", tmp_path / "mirror", b"PUBLIC", FPR)
    state = load(WorkTree(write(files, tmp_path / "config")))
    assert not state.problems, state.problems
    assert sorted(state.channels) == sorted(world.CHANNELS)
    el7 = state.image("demo-el7")
    assert el7.version == world.FIRST_VERSION[7]
    assert sorted(el7.variants) == ["aws", "cloudstack", "gce", "openstack"]
    assert sorted(el7.formats) == ["gce", "ova", "qcow2", "raw", "vhd"]
    assert el7.disk.size == 64 << 20
    assert state.trust.allowed_fingerprints("el7-stable") == {FPR}
    assert state.key_files == {world.KEY_FILE: b"PUBLIC"}


def test_stable_channels_pin_and_testing_channels_follow_the_image() -> None:
    assert 'version: "7.9.1"' in world.channel_yaml("el7-stable")
    assert "version: latest" in world.channel_yaml("el6-testing")
    assert "image: demo-el6" in world.channel_yaml("el6-stable")


def test_the_package_ships_the_spec_files_the_demo_builds() -> None:
    assert [spec.name for spec in SPECS] == ["cloudbase.spec"]
    argv = rpmbuild_argv(SPECS[0], Path("/t"), {"dist": ".el7"})
    assert argv == ["rpmbuild", "-bb", "--quiet", "--define", "_topdir /t", "--define",
                    "dist .el7", str(SPECS[0])]  # fmt: skip
    assert createrepo_argv(Path("/r")) == ["createrepo_c", "-q", "/r"]


def test_the_demo_key_is_rsa_and_never_protected_by_a_passphrase() -> None:
    argv = gen_key_argv("Demo <d@example.invalid>")
    assert "rsa3072" in argv and argv[argv.index("--passphrase") + 1] == ""


def test_secret_fingerprints_are_those_of_primary_keys_only() -> None:
    colons = (
        "sec:u:3072:1:AAAA:1:::u:::scESC:::+:::23::0:\n"
        f"fpr:::::::::{FPR}:\n"
        "grp:::::::::ABC:\n"
        "ssb:u:3072:1:BBBB:1::::::e:::+:::23:\n"
        "fpr:::::::::FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF:\n"
    )
    assert secret_fingerprints(colons) == [FPR]
    assert secret_fingerprints("") == []


def test_the_tree_lists_every_file_with_its_size(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "f").write_bytes(b"12345")
    assert tree(tmp_path).splitlines()[1:] == ["    a/", "        b/", "            f  (5 bytes)"]


def test_the_demo_key_is_made_once_then_reused() -> None:
    home = Path(tempfile.mkdtemp(dir="/tmp", prefix="dk-")) / "g"
    try:
        fingerprint, made = ensure_key(home)
        assert made and len(fingerprint) == 40
        assert ensure_key(home) == (fingerprint, False)
        colons = subprocess.run(["gpg", "--homedir", str(home), "--with-colons", "--list-keys"],
                                capture_output=True, text=True, check=True).stdout  # fmt: skip
        pub = next(line.split(":") for line in colons.splitlines() if line.startswith("pub:"))
        assert (pub[2], pub[3]) == ("3072", "1")  # RSA 3072: what EL6/EL7's gpg can verify
        assert b"PRIVATE KEY" not in export_public(home, fingerprint)
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)
        shutil.rmtree(home.parent, ignore_errors=True)


def test_a_gnupg_home_too_long_for_the_agent_socket_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="too long a path"):
        ensure_key(tmp_path / ("x" * 100))
    assert not (tmp_path / ("x" * 100)).exists()


def test_serve_answers_gets_on_loopback_then_stops(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!DOCTYPE html><title>m</title>front")
    stop = threading.Event()
    urls: list[str] = []
    thread = threading.Thread(target=serve, args=(tmp_path, 0, stop, urls.append))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not urls and time.monotonic() < deadline:
            time.sleep(0.05)
        assert urls and urls[0].startswith("http://127.0.0.1:")
        answer = requests.get(urls[0] + "index.html", timeout=10)
        assert answer.status_code == 200 and answer.content.endswith(b"front")
        assert requests.get(urls[0] + "nothing.html", timeout=10).status_code == 404
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    with pytest.raises(requests.ConnectionError):
        requests.get(urls[0], timeout=5)


def test_serve_refuses_a_directory_without_pages(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="run `release demo` first"):
        serve(tmp_path, 0, threading.Event(), print)


def test_the_by_hand_commands_name_the_demo_key_and_its_home(tmp_path: Path) -> None:
    text = by_hand(DemoPaths(tmp_path), FPR)
    assert f"--gnupghome {tmp_path / 'gnupg'} --fingerprint {FPR}" in text
    assert f"cd {tmp_path / 'config'}" in text.splitlines()[0]
    assert 'version: "7.9.3"' in text and "images/demo-el7.yaml" in text
    assert text.splitlines()[-1].endswith("status")
