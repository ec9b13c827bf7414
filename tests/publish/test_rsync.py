from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from release.errors import InvalidInput, OperationError, ToolError
from release.model.target import RsyncTarget
from release.publish import rsync
from release.publish.api import publish
from release.publish.engine import PublishSummary
from release.publish.journal import Journal
from release.publish.mirror import Conflict
from release.publish.options import Options
from release.publish.retry import RetrySettings, Transient
from tests.publish.conftest import RsyncDaemon, SshServer
from tests.publish.helpers import ARTIFACT, flip_byte, make_release, same_tree, seal

REPO = Path(__file__).resolve().parents[2]
FAST = RetrySettings(attempts=3, total_seconds=20, initial_wait=0.01, max_wait=0.05)


def test_push_argv_is_resumable_atomic_and_create_only() -> None:
    shell = rsync.ssh_command(2222, ["-i", "/k/id"])
    argv = rsync.push_argv(shell, Path("/src"), "m@host:/srv")
    assert argv[:4] == ["rsync", "--timeout=120", "--no-motd", "-e"]
    assert argv[4] == (
        "ssh -o BatchMode=yes -o ConnectTimeout=15 -o ServerAliveInterval=15 -p 2222 -i /k/id"
    )
    for flag in ("--partial", "--delay-updates", "--ignore-existing", "--files-from=-"):
        assert flag in argv
    assert argv[-2:] == ["/src/", "m@host:/srv/"]
    assert "-e" not in rsync.push_argv(None, Path("/src"), "rsync://h/m")


def test_ssh_options_with_spaces_survive_the_join() -> None:
    argv = rsync.base_argv(rsync.ssh_command(None, ["-i", "/my keys/id"]))
    assert argv[-1].endswith("-i '/my keys/id'")


def test_parse_listing_and_itemized_output() -> None:
    listing = (
        "drwxr-xr-x          4096 2026/11/24 10:00:00 .\n"
        "-rw-r--r--       1048576 2026/11/24 10:00:00 img-1.0-base.qcow2\n"
        "-rw-r--r--            12 2026/11/24 10:00:00 sha256sum.txt\n"
    )
    assert rsync.parse_listing(listing) == {"img-1.0-base.qcow2": 1048576, "sha256sum.txt": 12}
    itemized = (
        "cd+++++++++ img/\n"
        ">f+++++++++ img/1.0/a.raw\n"
        ">fc.t...... img/1.0/b.raw\n"
        ".f..t...... img/1.0/c.raw\n"
    )
    assert rsync.parse_itemized(itemized) == {
        "img/1.0/a.raw": "missing",
        "img/1.0/b.raw": "differs",
    }


@pytest.mark.parametrize(
    ("code", "stderr", "kind"),
    [
        # A daemon that closed the connection before its greeting (restarting, a balancer):
        # found by tests/chaos/test_fault_scenarios.py, it used to stop the run at once.
        (5, "rsync: did not see server greeting\n", Transient),
        (5, "rsync: didn't get server startup line\n", Transient),  # a greeting cut short
        (5, "@ERROR: max connections (2) reached -- try again later\n", Transient),
        (5, "@ERROR: Unknown module 'nope'\n", InvalidInput),
        (5, "@ERROR: chroot failed\n", OperationError),
        (12, "rsync: connection unexpectedly closed\n", Transient),
        (255, "ssh: connect to host h port 22: Connection refused\n", Transient),
        (23, "rsync: some files could not be transferred\n", OperationError),
    ],
)
def test_classify_retries_network_trouble_and_a_busy_daemon(
    code: int, stderr: str, kind: type[Exception]
) -> None:
    got = rsync.classify(ToolError(["rsync"], code, stderr + "rsync error: (code 5)\n"), "to m")
    assert type(got) is kind
    if kind is Transient:  # it can end the run: one line, naming the cause
        assert str(got) == f"to m: rsync exit {code}: {stderr.strip()}; rsync error: (code 5)"


def _push(
    rel: Path, target: RsyncTarget, journal: Journal, sshd: SshServer | None = None
) -> PublishSummary:
    options = Options(ssh_options=sshd.client_options if sshd else ())
    return publish(rel, target, journal, options=options, retry=FAST, show_progress=False)


def test_rsync_over_ssh_publishes_and_reruns_skip(sshd: SshServer, tmp_path: Path) -> None:
    rel = make_release(tmp_path / "src", artifact_size=2 * 1024 * 1024)
    dest = tmp_path / "mirror"
    dest.mkdir()
    target = RsyncTarget(type="rsync", url=f"root@127.0.0.1:{dest}", ssh_port=sshd.port)
    with Journal(tmp_path / "j.sqlite") as journal:
        first = _push(rel, target, journal, sshd)
        assert first.ok, first.error
        assert len(first.published) == 6
        assert same_tree(rel, dest / "img" / "1.0")
        again = _push(rel, target, journal, sshd)
    assert again.ok
    assert len(again.skipped) == 6


def test_rsync_over_ssh_with_a_wrong_key_fails_fast(
    sshd: SshServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rel = make_release(tmp_path / "src", artifact_size=10)
    wrong = tuple(
        o if not o.endswith("/client") else o.replace("client", "host") for o in sshd.client_options
    )
    target = RsyncTarget(type="rsync", url=f"root@127.0.0.1:{tmp_path}", ssh_port=sshd.port)
    started = time.monotonic()
    with (
        Journal(tmp_path / "j.sqlite") as journal,
        pytest.raises(InvalidInput, match="access denied"),
    ):
        publish(
            rel,
            target,
            journal,
            options=Options(ssh_options=wrong),
            retry=RetrySettings(attempts=5, initial_wait=10, max_wait=10),
            show_progress=False,
        )
    assert "retrying" not in caplog.text
    assert time.monotonic() - started < 10  # one retry would have waited 10 s


def test_rsync_daemon_publishes_a_fresh_tree(rsyncd: RsyncDaemon, tmp_path: Path) -> None:
    rel = make_release(tmp_path / "src", artifact_size=1024 * 1024)
    (rsyncd.root / "centos").mkdir()
    target = RsyncTarget(type="rsync", url=rsyncd.url("/centos"))
    with Journal(tmp_path / "j.sqlite") as journal:
        summary = _push(rel, target, journal)
    assert summary.ok, summary.error
    assert same_tree(rel, rsyncd.root / "centos" / "img" / "1.0")
    assert not list((rsyncd.root / "centos" / "img" / "1.0").glob(".~tmp~*"))


def test_rsync_daemon_refuses_other_bytes_under_a_release_name(
    rsyncd: RsyncDaemon, tmp_path: Path
) -> None:
    rel = make_release(tmp_path / "src", artifact_size=4096)
    there = rsyncd.root / "img" / "1.0"
    there.mkdir(parents=True)
    (there / ARTIFACT).write_bytes(b"\1" * 4096)  # same size, other bytes
    target = RsyncTarget(type="rsync", url=rsyncd.url())
    with Journal(tmp_path / "j.sqlite") as journal, pytest.raises(Conflict, match=ARTIFACT):
        _push(rel, target, journal)
    assert (there / ARTIFACT).read_bytes() == b"\1" * 4096
    assert not (there / "manifest.json").exists()


def test_rsync_daemon_unknown_module_is_the_users_to_fix(
    rsyncd: RsyncDaemon, tmp_path: Path
) -> None:
    rel = make_release(tmp_path / "src", artifact_size=10)
    target = RsyncTarget(type="rsync", url=f"rsync://127.0.0.1:{rsyncd.port}/nope/x")
    with Journal(tmp_path / "j.sqlite") as journal, pytest.raises(InvalidInput, match="nope"):
        _push(rel, target, journal)


@pytest.mark.slow
@pytest.mark.chaos
def test_kill_9_mid_transfer_then_rerun_sends_only_the_rest(
    rsyncd: RsyncDaemon, tmp_path: Path
) -> None:
    size = 24 * 1024 * 1024
    rel = make_release(tmp_path / "src", artifact_size=size)
    # Incompressible and unrepeating, so rsync's delta transfer cannot shortcut the rest.
    (rel / ARTIFACT).write_bytes(os.urandom(size))
    journal = tmp_path / "j.sqlite"
    argv = [
        sys.executable, "-m", "tests.publish.cli_entry", "push", str(rel), rsyncd.url(),
        "--journal", str(journal), "--bwlimit", "4096",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=REPO, start_new_session=True, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while _partial_bytes(rsyncd.root) < size // 3:
            assert proc.poll() is None, "the transfer finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its rsync, as a crash would
    finally:
        proc.wait()
    time.sleep(0.5)  # the daemon notices the dead connection and keeps the partial file
    kept = _partial_bytes(rsyncd.root)
    assert kept >= size // 3
    assert not (rsyncd.root / "img" / "1.0" / ARTIFACT).exists()  # nothing half-published

    with Journal(journal) as j:
        summary = _push(rel, RsyncTarget(type="rsync", url=rsyncd.url()), j)
    assert summary.ok, summary.error
    assert same_tree(rel, rsyncd.root / "img" / "1.0")
    last = [r for r in rsyncd.received() if r[0].endswith(ARTIFACT)][-1]
    assert last[1] == size
    assert last[2] < size - kept + 1024 * 1024  # the kept part did not cross the wire again


def _partial_bytes(root: Path) -> int:
    """Bytes of the artifact the daemon holds in temporary or partial files."""
    return max((p.stat().st_size for p in root.rglob(f"*{ARTIFACT}*") if p.is_file()), default=0)


def test_lists_partial_dir_only_for_the_directory() -> None:
    listing = "drwxr-xr-x 4096 2026/11/24 10:00:00 .\ndrwx------ 4096 2026/11/24 10:00:00 .~tmp~\n"
    assert rsync.lists_partial_dir(listing)
    assert not rsync.lists_partial_dir(listing.replace("drwx------", "-rw-------"))
    argv = rsync.clean_argv(None, Path("/e"), "rsync://h/m/img/1.0")
    assert argv[-4:] == ["--include=/.~tmp~/***", "--exclude=*", "/e/", "rsync://h/m/img/1.0/"]


def test_a_partial_dir_left_by_a_killed_run_is_removed(rsyncd: RsyncDaemon, tmp_path: Path) -> None:
    """A run killed after rsync's last delayed rename, before it removed `.~tmp~`, leaves the
    partial dir in a complete release: nothing is left to send, so the rerun removes it."""
    rel = make_release(tmp_path / "src", artifact_size=1024 * 1024)
    (rsyncd.root / "centos").mkdir()
    target = RsyncTarget(type="rsync", url=rsyncd.url("/centos"))
    published = rsyncd.root / "centos" / "img" / "1.0"
    with Journal(tmp_path / "j.sqlite") as journal:
        assert _push(rel, target, journal).ok
        stale = published / ".~tmp~"
        stale.mkdir()
        (stale / ARTIFACT).write_bytes(b"partial")
        again = _push(rel, target, journal)
    assert again.ok, again.error
    assert len(again.skipped) == 6
    assert sorted(p.name for p in published.iterdir()) == sorted(p.name for p in rel.iterdir())
    assert same_tree(rel, published)


def test_rsync_daemon_never_publishes_a_file_changed_after_sealing(
    rsyncd: RsyncDaemon, tmp_path: Path
) -> None:
    rel = make_release(tmp_path / "src", artifact_size=4096)
    seal(rel)
    flip_byte(rel / ARTIFACT, 100)
    target = RsyncTarget(type="rsync", url=rsyncd.url())
    with Journal(tmp_path / "j.sqlite") as journal:
        summary = _push(rel, target, journal)
    assert summary.verification_failed
    assert "changed after the release was sealed" in str(summary.error)
    assert not (rsyncd.root / "img").exists()
