"""Who left something behind, and whether that process is gone.

A lock object or a staging directory records `owner_id()`. A later run that finds it can tell
at once, without waiting out a lease, whether its maker ran on this machine (same host, boot
and pid namespace, where its pid means the same process) and has died, e.g. to a kill -9.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path


def _machine() -> str:
    """This machine and pid namespace: where a recorded pid means the same process."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        pids = str(Path("/proc/self/ns/pid").readlink())
    except OSError:
        return ""
    return f"boot={boot} {pids}"


def owner_id() -> bytes:
    """`nonce@host:pid`, then where that pid lives. The nonce tells this taking (of a lock)
    from any other by the same process, e.g. another thread's or a later one."""
    return f"{uuid.uuid4().hex[:12]}@{socket.gethostname()}:{os.getpid()} {_machine()}".encode()


def gone(owner: bytes) -> bool:
    """Whether `owner` ran on this machine and its process no longer lives. Anything else
    (another machine, an unreadable owner, a live process, another user's) is not gone."""
    head, _, machine = owner.decode(errors="replace").partition(" ")
    host, _, pid = head.rpartition(":")
    host = host.rpartition("@")[2]
    here = _machine()
    if not here or machine != here or host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, owned by another user
        return False
    return False
