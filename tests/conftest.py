"""Fixtures shared by the whole suite."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.publish.glancekit import GlanceServer, running_glance

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def config_repo(tmp_path: Path) -> Path:
    """A copy of the config repo this project ships, in a fresh git repo."""
    repo = tmp_path / "config"
    repo.mkdir()
    for folder in ("images", "channels", "targets", "keys"):
        shutil.copytree(ROOT / folder, repo / folder)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial config")
    return repo


def dead_owner() -> bytes:
    """The `owner_id()` a process of this machine that has since exited recorded."""
    code = "from release.owner import owner_id; print(owner_id().decode())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    return done.stdout.strip()


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@dataclass(frozen=True)
class GpgKey:
    fingerprint: str
    public: bytes
    secret: bytes


@pytest.fixture(scope="session")
def rsa_key() -> Iterator[GpgKey]:
    """An RSA key made once per session in a throwaway GNUPGHOME (its agent is stopped)."""
    home = Path(tempfile.mkdtemp(prefix="tg-", dir="/tmp"))
    home.chmod(0o700)
    env = {"GNUPGHOME": str(home), "PATH": "/usr/bin:/bin"}
    try:
        subprocess.run(
            ["gpg", "--batch", "--passphrase", "", "--quick-gen-key",
             "Test Release <test@example.invalid>", "rsa2048", "sign", "1y"],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
        colons = subprocess.run(
            ["gpg", "--batch", "--with-colons", "--list-keys"],
            env=env, check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        fpr = next(line.split(":")[9] for line in colons.splitlines() if line.startswith("fpr"))
        public = subprocess.run(
            ["gpg", "--batch", "--armor", "--export", fpr], env=env, check=True,
            capture_output=True,
        ).stdout  # fmt: skip
        secret = subprocess.run(
            ["gpg", "--batch", "--armor", "--pinentry-mode", "loopback", "--passphrase", "",
             "--export-secret-keys", fpr],
            env=env, check=True, capture_output=True,
        ).stdout  # fmt: skip
        yield GpgKey(fpr, public, secret)
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def glance_api() -> Iterator[GlanceServer]:
    """A real Glance API (PyPI `glance`): sqlite, the file store, no Keystone. Here, not in
    tests/publish/conftest.py, so the whole suite starts one (it takes ~20 s)."""
    with tempfile.TemporaryDirectory(prefix="glance-") as root, running_glance(Path(root)) as api:
        yield api


@pytest.fixture
def glance(glance_api: GlanceServer) -> GlanceServer:
    """The Glance API with no images."""
    glance_api.wipe()
    return glance_api


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (README's `-n 2`), the chaos tests share one worker, in order: each
    measures its kill window, and two of them at once would race for the cores."""
    for item in items:
        if item.get_closest_marker("chaos"):
            item.add_marker(pytest.mark.xdist_group("chaos"))
