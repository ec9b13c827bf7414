"""A seal killed while it signs leaves no GnuPG home (the private key) and no gpg-agent.

A real `release seal` process, its key from $RELEASE_SIGNING_KEY: the test waits until the
process has a signing home in /tmp (named after its pid), i.e. the key is on disk and gpg is
at work, then sends the signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integrity.conftest import IMAGE, VARIANTS, VERSION, write_inputs
from tests.integrity.gpgkit import Keys, agents_of, destroy_home


def _holding_home(pid: int) -> list[Path]:
    return sorted(Path("/tmp").glob(f"rel-sign-{pid}-*"))


def _users_of(home: Path) -> list[str]:
    """Any process (gpg, gpg-agent, keyboxd...) with `home` on its command line."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if proc.name.isdigit() and str(home).encode() in argv:
            found.append(argv.replace(b"\0", b" ").decode(errors="replace"))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_seal_killed_mid_signing_leaves_no_key_and_no_agent(
    keys: Keys, tmp_path: Path, signum: int
) -> None:
    directory = tmp_path / IMAGE / VERSION
    write_inputs(directory)
    env = {**os.environ, "RELEASE_SIGNING_KEY": keys.secret["good"].decode()}
    env.pop("RELEASE_SIGNING_PASSPHRASE", None)
    argv = [sys.executable, "-m", "release", "seal", str(directory), "--image", IMAGE,
            "--version", VERSION, "--commit", "0" * 40]  # fmt: skip
    argv += [arg for variant in VARIANTS for arg in ("--variant", variant)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    homes: list[Path] = []
    deadline = time.monotonic() + 120
    while not homes and proc.poll() is None and time.monotonic() < deadline:
        homes = _holding_home(proc.pid)
        time.sleep(0.002)  # no busy loop: the seal shares two cores with this test
    assert homes, f"never saw a signing home (exit {proc.poll()})"
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    left = _holding_home(proc.pid)
    agents = [pid for home in homes for pid in agents_of(home)]
    users = [argv for home in homes for argv in _users_of(home)]
    for home in left:  # only when the test fails: leave nothing behind on this machine
        destroy_home(home)
    assert left == [], "the home holding the private key is left behind"
    assert agents == [], "a gpg-agent is left running"
    assert users == [], users
    assert b"Traceback" not in err, err.decode()
    expected: dict[int, int] = {signal.SIGTERM: 128 + signal.SIGTERM, signal.SIGINT: 1}
    assert proc.returncode == expected[signum], err.decode()  # SIGINT: click says "aborted"
