"""Temporary GnuPG homes: short paths under /tmp, agents stopped and files removed after.

Short, because gpg fails with "No agent running" when the socket path is too long (~100
chars); stopped, because every home that touched a secret key leaves a gpg-agent behind.

Removed on every exit path: a normal end, an exception, Ctrl-C (KeyboardInterrupt) and also
SIGTERM and SIGHUP, whose default action would end the process without running any cleanup.
While a home exists in the main thread, those two signals raise `Terminated` (a SystemExit
with the shell's exit status 128 + signal) so the `finally` below runs; a second signal
during the cleanup waits until it is done. SIGKILL cannot be caught: nothing can clean then.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from release import runner

_CAUGHT = (signal.SIGTERM, signal.SIGHUP)
_BLOCKED = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


class Terminated(SystemExit):
    """The process was asked to stop by a signal; carries the exit status 128 + signal."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(128 + signum)


def kill_agents_argv(home: Path) -> list[str]:
    return ["gpgconf", "--homedir", str(home), "--kill", "all"]


def stop_agents(home: Path) -> None:
    if runner.which("gpgconf") is not None:
        runner.run(kill_agents_argv(home), check=False, timeout=30)


def _raise_terminated(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise `Terminated` (main thread only).

    Only signals left at their default action are taken over: a handler the program set
    itself is kept. The previous handlers are restored when the block ends.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in _CAUGHT}
    for signum, handler in previous.items():
        if handler is signal.SIG_DFL:
            signal.signal(signum, _raise_terminated)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP until the block ends (a cleanup must not be cut short)."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _BLOCKED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def remove_home(home: Path) -> None:
    """Stop the home's agents, then delete it; never interrupted by SIGINT/SIGTERM/SIGHUP."""
    with _signals_deferred():
        try:
            stop_agents(home)
        finally:
            shutil.rmtree(home, ignore_errors=True)


@contextlib.contextmanager
def temporary_home(prefix: str = "rel-gpg-") -> Iterator[Path]:
    """A fresh, private GnuPG home; destroyed (agents first) when the block ends, however.

    The directory is `/tmp/<prefix><pid>-<random>`: the pid says which process owns it.
    """
    with signals_raise():
        # Created with the signals held, so that none lands between mkdtemp and the `try`.
        old = signal.pthread_sigmask(signal.SIG_BLOCK, _BLOCKED)
        try:
            home = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir="/tmp"))
            try:
                home.chmod(0o700)
                signal.pthread_sigmask(signal.SIG_SETMASK, old)
                yield home
            finally:
                remove_home(home)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
