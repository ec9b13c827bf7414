"""kill -9 `release push` at random moments, rerun, and prove nothing is lost or doubled.

Targets: the filesystem, S3 (moto), GCS (gcp-storage-emulator) and rsync (the daemon, and over
ssh). The kill takes the whole process group (release and the rsync/ssh it runs), as a dying
machine or container would. After every completed rerun: the target holds exactly the
release, byte for byte, read independently of `release`; nothing extra (no staging names, no
`.part` files, no rsync `.~tmp~` partial dir, no second copy); no multipart upload left open;
every step the journal calls done names an object that is there with that digest.
A failure prints the seed: RELEASE_CHAOS_SEED=<seed> RELEASE_CHAOS_RUNS=<n> reproduces it.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.chaos import netsetup as net
from tests.chaos.conftest import RUNS
from tests.publish.conftest import GcsServer, RsyncDaemon, S3Server, SshServer
from tests.publish.helpers import ARTIFACT, make_release

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

MiB = 1 << 20
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Tally:
    """What a chaos test did, for the report in docs/reliability.md."""

    kills: int = 0  # killed while still running
    finished_first: int = 0  # finished before the kill came
    reruns: int = 0
    delays: list[float] = field(default_factory=list)
    finish_times: list[float] = field(default_factory=list)  # runs that beat their kill: seconds


def push(rel: Path, url: str, journal: Path, env: dict[str, str], *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "release", "push", str(rel), url,
        "--journal", str(journal), "--json", *extra,
    ]  # fmt: skip


def kill_after(
    argv: list[str],
    delay: float,
    env: dict[str, str],
    tally: Tally,
    when: Callable[[], bool] = lambda: True,
) -> None:
    """Start `argv`; once `when()` holds (polled every ms), wait `delay` more, then kill -9."""
    proc = subprocess.Popen(
        argv,
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, killed as one
    )
    started = time.monotonic()
    while proc.poll() is None and not when():
        time.sleep(0.001)
    try:
        proc.wait(timeout=delay)
        tally.finished_first += 1
        tally.finish_times.append(time.monotonic() - started)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        tally.kills += 1
    tally.delays.append(delay)


def rerun(argv: list[str], env: dict[str, str], tally: Tally, seed_note: str) -> None:
    result = subprocess.run(
        argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    tally.reruns += 1
    assert result.returncode == 0, f"{seed_note}: rerun failed:\n{result.stderr[-2000:]}"


def done_steps(journal: Path) -> list[tuple[str, str, int]]:
    with sqlite3.connect(journal) as db:
        rows = db.execute("SELECT name, sha256, size FROM steps WHERE state = 'done'").fetchall()
    return [(str(n), str(h), int(s)) for n, h, s in rows]


def local_state(rel: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in rel.iterdir()}


def timed_full_run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(seconds to start the CLI and fail fast, seconds of a whole run): the kill window."""
    start = time.monotonic()
    fail_fast = [*argv, "--part-size", "1"]  # refused after the imports, before any work
    subprocess.run(fail_fast, cwd=REPO, env=env, capture_output=True, timeout=300, check=False)
    started = time.monotonic()
    subprocess.run(argv, cwd=REPO, env=env, capture_output=True, timeout=300, check=True)
    return started - start, time.monotonic() - started


def _kill_point(
    rng: random.Random, moments: list[str], window: tuple[float, float]
) -> tuple[str, float]:
    """A named moment plus a few ms, or ("start", a delay inside the measured run window)."""
    moment = rng.choice(moments)
    if moment == "start":
        return moment, round(rng.uniform(window[0] * 0.8, window[1]), 3)
    return moment, round(rng.uniform(0, 0.03), 3)


def chaos_loop(
    rng: random.Random,
    make_argv: Callable[[int], list[str]],
    env: dict[str, str],
    check: Callable[[int, str], None],
    window: tuple[float, float],
    after_kill: Callable[[int, str], None],
    moments: Callable[[int], dict[str, Callable[[], bool]]] = lambda _run: {"start": lambda: True},
    runs: int = RUNS,
) -> Tally:
    """`runs` rounds, each on a fresh destination: 1-2 kills at random moments, then a rerun."""
    tally = Tally()
    for run in range(runs):
        argv = make_argv(run)
        points = moments(run)
        # A run that beat its kill bounds the window: the machine got faster than when the
        # window was measured (another test's load ended), and kills must land inside a run.
        now = (window[0], min([window[1], *tally.finish_times]))
        kills = [_kill_point(rng, sorted(points), now) for _ in range(rng.choice([1, 1, 2]))]
        note = f"run {run}, kills (moment, then delay) {kills}"
        for moment, delay in kills:
            kill_after(argv, delay, env, tally, points[moment])
            after_kill(run, note)
        rerun(argv, env, tally, note)
        check(run, note)
    print(f"chaos tally: window {window}, {tally}")
    return tally


def test_kill_9_filesystem_publish(tmp_path: Path, rng: random.Random) -> None:
    rel = make_release(tmp_path / "src", artifact_size=160 * MiB + 7)
    want = local_state(rel)
    env = {**os.environ, "PYTHONHASHSEED": "0"}

    def argv(run: int) -> list[str]:
        return push(rel, f"file://{tmp_path}/dst{run}", tmp_path / f"j{run}.sqlite", env)

    window = timed_full_run(argv(-1), env)

    def check(run: int, note: str) -> None:
        root = tmp_path / f"dst{run}"
        everything = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
        assert everything == sorted(["img", "img/1.0", *(f"img/1.0/{n}" for n in want)]), note
        assert local_state(root / "img/1.0") == want, note
        for name, sha256, size in done_steps(tmp_path / f"j{run}.sqlite"):
            path = root / "img/1.0" / name
            assert path.stat().st_size == size, note
            assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256, note
        shutil.rmtree(root)  # keep the disk use of the test to one copy

    def after_kill(run: int, note: str) -> None:
        """Mid-run, a file under its final name is always whole; partial ones are `.part`."""
        image_dir = tmp_path / f"dst{run}" / "img"
        for path in image_dir.rglob("*") if image_dir.exists() else []:
            if path.is_file() and not path.name.endswith(".part"):
                assert path.read_bytes() == want[path.name], f"{note}: {path} is partial"
        final = image_dir / "1.0"
        assert not final.exists() or local_state(final) == want, f"{note}: {final} is partial"

    def moments(run: int) -> dict[str, Callable[[], bool]]:
        """Moments inside the run to kill at (plus a random few ms): the copy's stages."""
        image_dir = tmp_path / f"dst{run}" / "img"
        staging = image_dir / ".1.0.staging-partial"
        return {
            "journal opened": (tmp_path / f"j{run}.sqlite").exists,
            "staging made": staging.exists,
            "copying": lambda: any(staging.glob(".*.part")),
            "one file staged": lambda: any(not p.name.startswith(".") for p in staging.glob("*")),
            "renamed into place": (image_dir / "1.0").exists,
            "start": lambda: True,
        }

    tally = chaos_loop(rng, argv, env, check, window, after_kill, moments)
    assert tally.kills >= 1


def test_kill_9_s3_publish(
    s3: S3Server, aws_env: dict[str, str], tmp_path: Path, rng: random.Random
) -> None:
    rel = make_release(tmp_path / "src", artifact_size=23 * MiB + 5)
    want = local_state(rel)
    client: Any = boto3.client("s3", endpoint_url=s3.endpoint)
    extra = ("--endpoint-url", s3.endpoint, "--part-size", "5MiB", "--concurrency", "2")

    def argv(run: int) -> list[str]:
        return push(rel, f"s3://releases/r{run}", tmp_path / f"j{run}.sqlite", aws_env, *extra)

    window = timed_full_run(argv(-1), aws_env)

    def check(run: int, note: str) -> None:
        listing = client.list_objects_v2(Bucket="releases", Prefix=f"r{run}/")
        keys = [o["Key"] for o in listing.get("Contents", [])]
        assert sorted(keys) == sorted(f"r{run}/img/1.0/{n}" for n in want), note
        for name, data in want.items():
            body = client.get_object(Bucket="releases", Key=f"r{run}/img/1.0/{name}")["Body"]
            assert body.read() == data, f"{note}: {name} differs"
        uploads = client.list_multipart_uploads(Bucket="releases").get("Uploads", [])
        assert uploads == [], f"{note}: orphaned multipart uploads {uploads}"
        for name, sha256, size in done_steps(tmp_path / f"j{run}.sqlite"):
            assert hashlib.sha256(want[name]).hexdigest() == sha256, note
            assert len(want[name]) == size, note

    def after_kill(run: int, note: str) -> None:
        """Mid-run, an object under its final key is always whole (S3 commits atomically)."""
        listing = client.list_objects_v2(Bucket="releases", Prefix=f"r{run}/")
        for item in listing.get("Contents", []):
            name = item["Key"].rsplit("/", 1)[1]
            body = client.get_object(Bucket="releases", Key=item["Key"])["Body"].read()
            assert body == want[name], f"{note}: {item['Key']} is partial"

    tally = chaos_loop(rng, argv, aws_env, check, window, after_kill)
    assert tally.kills >= RUNS // 2


def test_kill_9_gcs_publish(gcs: GcsServer, tmp_path: Path, rng: random.Random) -> None:
    rel = make_release(tmp_path / "src", artifact_size=20 * MiB + 5)  # three 8 MiB chunks
    want = {f"img/1.0/{n}": hashlib.sha256(b).hexdigest() for n, b in local_state(rel).items()}
    env = dict(os.environ)
    bucket: Any = gcs.client().bucket("releases")

    def argv(run: int) -> list[str]:
        url = f"gs://releases/r{run}"
        return push(rel, url, tmp_path / f"j{run}.sqlite", env, "--endpoint-url", gcs.endpoint)

    window = timed_full_run(argv(-1), env)

    def objects(run: int) -> dict[str, str]:
        return {k.removeprefix(f"r{run}/"): v for k, v in net.gcs_objects(gcs, f"r{run}/").items()}

    def check(run: int, note: str) -> None:
        assert objects(run) == want, note  # every object, whole, nothing else
        for name, digest in want.items():
            blob = bucket.get_blob(f"r{run}/{name}", retry=None)
            assert blob.metadata == {"sha256": digest}, note
        journal_agrees(tmp_path / f"j{run}.sqlite", want, note)

    def after_kill(run: int, note: str) -> None:
        """Mid-run, an object under its final name is always whole (GCS commits at once)."""
        for name, digest in objects(run).items():
            assert want[name] == digest, f"{note}: {name} is partial"

    runs = max(1, RUNS // 2)  # a round costs about three times a filesystem one
    tally = chaos_loop(rng, argv, env, check, window, after_kill, runs=runs)
    assert tally.kills >= runs // 2


@pytest.mark.parametrize("via", ["daemon", "ssh"])
def test_kill_9_rsync_publish(
    via: str,
    rsyncd: RsyncDaemon,
    sshd: SshServer,
    tmp_path: Path,
    rng: random.Random,
) -> None:
    rel = make_release(tmp_path / "src", artifact_size=23 * MiB + 5)
    want = net.want_tree(rel, "img/1.0")
    env = net.ssh_shim(sshd, tmp_path / "bin", tmp_path / "ssh-port")

    def dest(run: int) -> Path:
        return rsyncd.root / f"r{run}"

    def argv(run: int) -> list[str]:
        dest(run).mkdir(exist_ok=True)
        url = rsyncd.url(f"/r{run}") if via == "daemon" else f"127.0.0.1:{dest(run)}"
        return push(rel, url, tmp_path / f"j{run}.sqlite", env)

    window = timed_full_run(argv(-1), env)

    def check(run: int, note: str) -> None:
        got = net.tree(dest(run))
        assert got == want, f"{note}: {sorted(set(got) ^ set(want))}"  # no .~tmp~ either
        journal_agrees(tmp_path / f"j{run}.sqlite", want, note)
        shutil.rmtree(dest(run))

    def after_kill(run: int, note: str) -> None:
        """Mid-run, a file under its final name is whole; partial ones are under .~tmp~."""
        for name, digest in net.tree(dest(run)).items():
            if net.PARTIAL not in name and digest != "dir":
                assert want[name] == digest, f"{note}: {name} is partial"

    def moments(run: int) -> dict[str, Callable[[], bool]]:
        """The partial dir appearing, the artifact renamed into place, or any time."""
        release_dir = dest(run) / "img" / "1.0"
        return {
            "partial dir made": (release_dir / net.PARTIAL).exists,
            "artifact in place": (release_dir / ARTIFACT).exists,
            "start": lambda: True,
        }

    # Costs: a daemon round about 4 s, an ssh round about 10 s (every rsync run logs in).
    runs = max(1, RUNS // 2) if via == "daemon" else max(1, RUNS // 8)
    tally = chaos_loop(rng, argv, env, check, window, after_kill, moments, runs)
    assert tally.kills >= runs // 2


def journal_agrees(journal: Path, want: dict[str, str], note: str) -> None:
    """The journal calls every file done, each with the digest that was published."""
    done = {f"img/1.0/{name}": sha256 for name, sha256, _ in done_steps(journal)}
    assert done == {k: v for k, v in want.items() if v != "dir"}, note
