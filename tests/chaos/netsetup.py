"""What the GCS and rsync chaos tests share: running `release push` against them from a
process of its own, and reading back what a target holds, independently of `release`.

rsync over ssh needs the loopback sshd's key and host key, which `release push` takes from
ssh's usual places; `ssh_shim` puts an `ssh` first on PATH that adds them (and the port, so
the same URL can go through the fault proxy or straight to sshd).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.publish.conftest import GcsServer, SshServer

REPO = Path(__file__).resolve().parents[2]
PARTIAL = ".~tmp~"  # rsync's partial dir under --delay-updates


def push_argv(rel: Path, url: str, journal: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "release", "push", str(rel), url,
            "--journal", str(journal), "--json", *extra]  # fmt: skip


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def ssh_shim(sshd: SshServer, bindir: Path, port_file: Path) -> dict[str, str]:
    """An environment whose `ssh` logs in to the test sshd at the port in `port_file`."""
    bindir.mkdir(exist_ok=True)
    alias = bindir / "known_hosts"
    options = list(sshd.client_options)
    for i, option in enumerate(options):
        if option.startswith("UserKnownHostsFile="):
            key_type, key = Path(option.split("=", 1)[1]).read_text().split()[1:3]
            alias.write_text(f"chaos-sshd {key_type} {key}\n")  # any port: the proxy's too
            options[i] = f"UserKnownHostsFile={alias}"
    shim = bindir / "ssh"
    shim.write_text(
        "#!/bin/sh\n"
        f'exec /usr/bin/ssh -p "$(cat {port_file})" -o HostKeyAlias=chaos-sshd '
        + " ".join(f"'{o}'" for o in options)
        + ' "$@"\n'
    )
    shim.chmod(0o755)
    port_file.write_text(str(sshd.port))
    return {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}


def tree(root: Path) -> dict[str, str]:
    """Every file and directory under root (hidden ones included): path -> sha256 or 'dir'."""
    return {
        str(p.relative_to(root)): "dir"
        if p.is_dir()
        else hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
    }


def want_tree(rel: Path, under: str) -> dict[str, str]:
    """The tree a published release dir `rel` makes at `under` (e.g. `p/img/1.0`)."""
    parts = under.split("/")
    dirs = {"/".join(parts[: i + 1]): "dir" for i in range(len(parts))}
    files = {f"{under}/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest() for p in rel.iterdir()}
    return {**dirs, **files}


def gcs_objects(gcs: GcsServer, prefix: str) -> dict[str, str]:
    """Object name -> sha256 of the bytes downloaded, for everything under prefix."""
    client: Any = gcs.client()
    bucket = client.bucket("releases")
    names = [b.name for b in client.list_blobs("releases", prefix=prefix, retry=None)]
    # A fresh blob per name: a listed one carries a media link naming the host that wrote it
    # (the fault proxy, gone by now).
    return {
        n: hashlib.sha256(bucket.blob(n).download_as_bytes(retry=None)).hexdigest() for n in names
    }


def done_steps(journal: Path) -> list[tuple[str, str, int]]:
    with sqlite3.connect(journal) as db:
        rows = db.execute("SELECT name, sha256, size FROM steps WHERE state = 'done'").fetchall()
    return [(str(n), str(h), int(s)) for n, h, s in rows]
