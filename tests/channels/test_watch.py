"""`release watch` as a real process against a bare config repo: picks up a push within an
interval, tags it, refuses a force-pushed main, keeps running while the remote is away, and
stops on SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from release.channels import index as idx
from release.channels.watch import tag_name
from release.pipeline import Workspace
from tests.channels.kit import IMAGE, ConfigKit, make_config, sealed_release
from tests.conftest import ROOT, git
from tests.gitops import merge_feature
from tests.integrity.gpgkit import Keys

pytestmark = pytest.mark.slow

INTERVAL = 0.5


def _until(what: str, check: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _tags(remote: Path) -> list[str]:
    return git(remote, "tag", "--list", "release/*").split()


@pytest.fixture
def watched(keys: Keys, tmp_path: Path) -> Iterator[tuple[ConfigKit, Path, subprocess.Popen[str]]]:
    mirror = tmp_path / "mirror-root"
    kit = make_config(tmp_path, keys, target=f"type: filesystem\npath: {mirror}\n")
    work = tmp_path / "watch"
    sealed_release(Workspace(work), keys, "1.0.0")
    sealed_release(Workspace(work), keys, "1.1.0")
    proc = _start(kit, keys, work, tmp_path / "watch.log")
    try:
        yield kit, mirror, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _start(kit: ConfigKit, keys: Keys, work: Path, log: Path) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "tests.channels.cli_entry", "watch",
            "--repo", str(kit.remote.path), "--branch", "main",
            "--interval", str(INTERVAL), "--work", str(work),
            "--gnupghome", str(keys.home), "--fingerprint", keys.fpr["good"]]  # fmt: skip
    with log.open("w") as stderr:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(argv, cwd=ROOT, env=dict(os.environ), text=True,
                                stdout=subprocess.DEVNULL, stderr=stderr)  # fmt: skip


def _version(mirror: Path, channel: str) -> str | None:
    path = mirror / "channels" / f"{channel}.json"
    return idx.parse_index(path.read_bytes()).current.version if path.exists() else None


def test_watch_releases_each_push_and_stops_on_sigterm(
    watched: tuple[ConfigKit, Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    kit, mirror, proc = watched
    _until("the first release", lambda: len(_tags(kit.remote.path)) == 1)
    assert _version(mirror, "fx-testing") == "1.0.0"
    first = _tags(kit.remote.path)[0]
    assert git(kit.remote.path, "cat-file", "-t", first).strip() == "tag"  # annotated

    time.sleep(1.1)  # tag names have a one-second resolution
    merge_feature(kit.clone, "bump", [(f"images/{IMAGE}.yaml", '"1.0.0"', '"1.1.0"')])
    pushed = time.monotonic()
    _until("the bump's release", lambda: _version(mirror, "fx-testing") == "1.1.0")
    assert time.monotonic() - pushed < 30  # one interval plus the reconcile itself
    _until("its tag", lambda: len(_tags(kit.remote.path)) == 2)
    head = git(kit.clone, "rev-parse", "HEAD").strip()
    newest = sorted(_tags(kit.remote.path))[-1]
    assert git(kit.remote.path, "rev-list", "-n1", newest).strip() == head

    # A force-pushed main that drops the released commit is refused: no release, no tag.
    git(kit.clone, "reset", "-q", "--hard", "HEAD~1")
    (kit.clone / "README").write_text("rewritten\n")
    git(kit.clone, "add", "README")
    git(kit.clone, "commit", "-qm", "rewritten history")
    git(kit.clone, "push", "-q", "--force", "origin", "main")
    log = tmp_path / "watch.log"
    _until("the refusal", lambda: "was rewritten" in log.read_text())
    assert len(_tags(kit.remote.path)) == 2

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    assert "watch stopped" in log.read_text()


def test_watch_keeps_running_while_the_remote_is_unreachable(
    watched: tuple[ConfigKit, Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    kit, mirror, proc = watched
    _until("the first release", lambda: len(_tags(kit.remote.path)) == 1)
    moved = kit.remote.path.with_name("away.git")
    shutil.move(kit.remote.path, moved)
    log = tmp_path / "watch.log"
    _until("the warning", lambda: "cannot reach" in log.read_text())
    assert proc.poll() is None  # still running
    shutil.move(moved, kit.remote.path)
    time.sleep(1.1)
    merge_feature(kit.clone, "bump", [(f"images/{IMAGE}.yaml", '"1.0.0"', '"1.1.0"')])
    _until("the release after the outage", lambda: _version(mirror, "fx-testing") == "1.1.0",
           timeout=60)  # fmt: skip
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0


def test_tag_names_are_utc_times() -> None:
    import datetime as dt

    when = dt.datetime(2026, 11, 24, 23, 5, 7, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert tag_name(when) == "release/20261124T210507Z"


def test_a_restarted_watch_resumes_without_releasing_again(
    watched: tuple[ConfigKit, Path, subprocess.Popen[str]], keys: Keys, tmp_path: Path
) -> None:
    kit, mirror, proc = watched
    _until("the first release", lambda: len(_tags(kit.remote.path)) == 1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    log = tmp_path / "again.log"
    again = _start(kit, keys, tmp_path / "watch", log)
    try:
        _until("a cycle of the restarted watch", lambda: "up to date" in log.read_text())
        assert "resuming" in log.read_text() and again.poll() is None
        assert len(_tags(kit.remote.path)) == 1
        index = idx.parse_index((mirror / "channels/fx-testing.json").read_bytes())
        assert index.serial == 1
    finally:
        again.send_signal(signal.SIGTERM)
        assert again.wait(timeout=20) == 0
