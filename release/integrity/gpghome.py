"""Temporary GnuPG homes: short paths under /tmp, agents stopped and files removed after.

Short, because gpg fails with "No agent running" when the socket path is too long (~100
chars); stopped, because every home that touched a secret key leaves a gpg-agent behind.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from release import runner


def kill_agents_argv(home: Path) -> list[str]:
    return ["gpgconf", "--homedir", str(home), "--kill", "all"]


def stop_agents(home: Path) -> None:
    if runner.which("gpgconf") is not None:
        runner.run(kill_agents_argv(home), check=False, timeout=30)


@contextlib.contextmanager
def temporary_home(prefix: str = "rel-gpg-") -> Iterator[Path]:
    """A fresh, private GnuPG home; destroyed (agents first) when the block ends."""
    home = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    home.chmod(0o700)
    try:
        yield home
    finally:
        stop_agents(home)
        shutil.rmtree(home, ignore_errors=True)
