"""Temporary GnuPG homes vanish with their gpg-agent on every exit path, signals included."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from release.integrity.gpghome import Terminated, temporary_home
from tests.integrity.gpgkit import agents_of

# A real process: takes a home, starts its gpg-agent, says where the home is, then waits to be
# killed. The agent is started by gpg-connect-agent, as gpg does it for any secret-key work.
_HOLDER = """
import signal, sys, time
# As at a terminal: a shell's background job (CI, `cmd &`) starts with SIGINT ignored.
signal.signal(signal.SIGINT, signal.default_int_handler)
from release import runner
from release.integrity.gpghome import temporary_home
with temporary_home("rel-test-") as home:
    runner.run(["gpg-connect-agent", "--homedir", str(home), "/bye"], timeout=60)
    print(home, flush=True)
    time.sleep(120)
"""


def _wait_gone(pids: list[int], seconds: float = 10.0) -> list[int]:
    end = time.monotonic() + seconds
    alive = pids
    while alive and time.monotonic() < end:
        alive = [p for p in alive if Path(f"/proc/{p}").exists()]
        time.sleep(0.1)
    return alive


@pytest.mark.parametrize(
    ("signum", "status"),
    [(signal.SIGTERM, 128 + 15), (signal.SIGHUP, 128 + 1), (signal.SIGINT, None)],
)
def test_a_killed_process_leaves_no_home_and_no_agent(signum: int, status: int | None) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    home, agents = Path("/nonexistent"), []
    try:
        assert proc.stdout is not None
        home = Path(proc.stdout.readline().decode().strip())
        assert home.is_dir() and home.name.startswith(f"rel-test-{proc.pid}-")
        agents = agents_of(home)
        assert agents, "the holder did not start a gpg-agent: the test proves nothing"
        proc.send_signal(signum)
        proc.wait(timeout=60)
    finally:
        proc.kill()
        proc.wait()
        leftover = home.exists(), _wait_gone(agents, 5.0)
        for pid in leftover[1]:  # a failed run leaves nothing behind either
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(home, ignore_errors=True)
    assert not leftover[0], "the temporary GnuPG home was left behind"
    assert leftover[1] == [], "its gpg-agent is still running"
    if status is not None:
        assert proc.returncode == status
    else:  # Ctrl-C: Python's KeyboardInterrupt, re-raised as the signal
        assert proc.returncode in (-signal.SIGINT, 128 + signal.SIGINT, 1)


def test_a_handler_of_the_program_is_kept_and_restored() -> None:
    mine = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        own = signal.getsignal(signal.SIGTERM)
        with temporary_home() as home:
            assert signal.getsignal(signal.SIGTERM) is own
        assert not home.exists()
        assert signal.getsignal(signal.SIGTERM) is own
    finally:
        signal.signal(signal.SIGTERM, mine)


def test_sigterm_in_the_block_raises_and_cleans() -> None:
    with pytest.raises(Terminated) as caught, temporary_home() as home:
        signal.raise_signal(signal.SIGTERM)
    assert caught.value.code == 128 + signal.SIGTERM
    assert not home.exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
