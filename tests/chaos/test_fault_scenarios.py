"""Scripted network faults across a whole `release push` to S3 (moto), GCS (gcp-storage-emulator)
and rsync (the daemon, and over ssh), each behind tests/faultproxy.py (raw TCP for rsync).

Each scenario ends with the objects byte-identical to the release, or with a clear error
(exit 1, one line naming the cause, "rerun to resume"); either way a clean rerun completes.
Offsets and counts are drawn from the seeded rng (RELEASE_CHAOS_SEED reproduces a run).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.chaos import netsetup as net
from tests.faultproxy import Fault, FaultProxy
from tests.publish.conftest import GcsServer, RsyncDaemon, S3Server, SshServer
from tests.publish.helpers import make_release

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

MiB = 1 << 20
REPO = Path(__file__).resolve().parents[2]
SIZE = 16 * MiB + 11
PART = "partNumber="
Scenario = Callable[[random.Random], list[Fault]]

SCENARIOS: dict[str, Scenario] = {
    "resets at random offsets": lambda r: [
        Fault("reset", match=PART, after_bytes=r.randrange(1, 5 * MiB)) for _ in range(3)
    ],
    "a 503 burst": lambda r: [Fault("503", count=r.randint(2, 4))],
    "a 429 burst": lambda r: [Fault("429", match=PART, count=r.randint(2, 4))],
    "truncated responses": lambda r: [
        Fault("truncate", match="GET ", after_bytes=r.randrange(0, 40)),
        Fault("truncate", match="POST ", after_bytes=r.randrange(0, 40)),
    ],
    "a stall past the read timeout": lambda r: [Fault("stall", match=PART, seconds=2.5)],
    "manifest upload reset": lambda r: [
        Fault("reset", match="manifest.json ", after_bytes=r.randrange(1, 30))
    ],
    "everything at once": lambda r: [
        Fault("503", match=PART, count=2),
        Fault("429", match="PUT ", count=1),
        Fault("reset", match=PART, after_bytes=r.randrange(1, 5 * MiB)),
        Fault("truncate", match="GET ", after_bytes=r.randrange(0, 40)),
    ],
    "a storm longer than the retry budget": lambda r: [Fault("503", match=PART, count=1000)],
    "a storm from the first request": lambda r: [Fault("503", count=1000)],
}


def push(rel: Path, prefix: str, endpoint: str, journal: Path, env: dict[str, str]) -> Any:
    argv = [
        sys.executable, "-m", "release", "push", str(rel), f"s3://releases/{prefix}",
        "--endpoint-url", endpoint, "--journal", str(journal), "--part-size", "5MiB",
        "--concurrency", "2", "--attempts", "4", "--json",
    ]  # fmt: skip
    return subprocess.run(
        argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def upstream(s3: S3Server) -> tuple[str, int]:
    host, port = s3.endpoint.removeprefix("http://").split(":")
    return host, int(port)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_ends_identical_or_clearly_failed_and_a_rerun_completes(
    name: str, s3: S3Server, aws_env: dict[str, str], tmp_path: Path, rng: random.Random
) -> None:
    rel = make_release(tmp_path / "src", artifact_size=SIZE)
    journal = tmp_path / "j.sqlite"
    client: Any = boto3.client("s3", endpoint_url=s3.endpoint)
    env = {**aws_env, "AWS_MAX_ATTEMPTS": "1"}
    faults = SCENARIOS[name](rng)
    with FaultProxy(upstream(s3), rate=40 * MiB) as proxy:  # a slow link for every scenario
        for fault in faults:
            proxy.add(fault)
        first = push(rel, "p", proxy.url, journal, env)
        injected = sum(1 for r in proxy.requests if r.fault)
    assert injected >= 1, f"{name}: no fault was injected ({faults})"
    if first.returncode != 0:
        assert first.returncode == 1, first.stderr
        last = first.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and "503" in last, first.stderr  # names the cause
        assert "Traceback" not in first.stderr
    else:
        assert_published(client, rel, name)  # succeeded through the faults: already exact
    second = push(rel, "p", s3.endpoint, journal, env)
    assert second.returncode == 0, second.stderr
    assert_published(client, rel, name)
    print(f"scenario {name!r}: {injected} faults injected, first run exit {first.returncode}")


def assert_published(client: Any, rel: Path, name: str) -> None:
    for f in rel.iterdir():
        body = client.get_object(Bucket="releases", Key=f"p/img/1.0/{f.name}")["Body"].read()
        assert body == f.read_bytes(), f"{name}: {f.name} differs"
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="releases").get("Contents", [])]
    assert sorted(keys) == sorted(f"p/img/1.0/{f.name}" for f in rel.iterdir())
    assert client.list_multipart_uploads(Bucket="releases").get("Uploads", []) == []


# -- GCS (gcp-storage-emulator: it resumes sessions faithfully) ------------------------------

CHUNK_PUT = "upload_id="  # a resumable session's chunk (or status query)
OPEN = "uploadType=resumable&ifGenerationMatch=0 HTTP"  # opening a session

GCS_SCENARIOS: dict[str, Scenario] = {
    "resets at random offsets": lambda r: [
        Fault("reset", match=CHUNK_PUT, after_bytes=r.randrange(1, 8 * MiB)) for _ in range(3)
    ],
    "503 and 429 bursts": lambda r: [
        Fault("503", count=r.randint(1, 2)),
        Fault("429", match=CHUNK_PUT, count=r.randint(1, 2)),
    ],
    "truncated responses": lambda r: [
        Fault("truncate", match="GET ", after_bytes=r.randrange(0, 40)),
        Fault("truncate", match="PUT ", after_bytes=r.randrange(0, 40), count=3),
    ],
    "a session opening reset": lambda r: [
        Fault("reset", match=OPEN, after_bytes=r.randrange(1, 60))
    ],
    "everything at once": lambda r: [
        Fault("503", match=CHUNK_PUT, count=2),
        Fault("429", match=OPEN, count=1),
        Fault("reset", match=CHUNK_PUT, after_bytes=r.randrange(1, 8 * MiB)),
        Fault("truncate", match="GET ", after_bytes=r.randrange(0, 40)),
        Fault("stall", match=CHUNK_PUT, seconds=2.5),
    ],
    "a storm longer than the retry budget": lambda r: [Fault("503", match=CHUNK_PUT, count=1000)],
}


@pytest.mark.parametrize("name", sorted(GCS_SCENARIOS))
def test_gcs_scenario_ends_identical_or_clearly_failed_and_a_rerun_completes(
    name: str, gcs: GcsServer, tmp_path: Path, rng: random.Random
) -> None:
    rel = make_release(tmp_path / "src", artifact_size=SIZE)
    journal = tmp_path / "j.sqlite"
    want = want_objects(rel, "p/img/1.0")
    host, port = gcs.endpoint.removeprefix("http://").split(":")
    faults = GCS_SCENARIOS[name](rng)
    with FaultProxy((host, int(port)), rate=40 * MiB) as proxy:
        for fault in faults:
            proxy.add(fault)
        argv = net.push_argv(rel, "gs://releases/p", journal, "--attempts", "4")
        argv += ["--endpoint-url", proxy.url]
        first = net.run(argv, dict(os.environ))
        injected = sum(1 for r in proxy.requests if r.fault)
        assert injected >= 1, f"{name}: no fault was injected ({faults})"
        identical = lambda: net.gcs_objects(gcs, "p/") == want  # noqa: E731
        assert_identical_or_clear(name, first, "HTTP 503", identical)
        # The rerun goes through the proxy too, without faults: the emulator's session URLs
        # in the journal name the host they were opened through.
        proxy.clear()
        second = net.run(argv, dict(os.environ))
    assert second.returncode == 0, second.stderr
    assert net.gcs_objects(gcs, "p/") == want, name
    assert_journal_agrees(journal, want, "p/img/1.0")
    print(f"gcs scenario {name!r}: {injected} faults injected, first run exit {first.returncode}")


# -- rsync: to the daemon, and over ssh, through the proxy in raw TCP mode ------------------

RSYNC_SCENARIOS: dict[str, Scenario] = {
    "resets at random offsets": lambda r: [
        Fault("reset", after_bytes=r.randrange(1, SIZE)) for _ in range(2)
    ],
    "connections refused in a burst": lambda r: [Fault("refuse", count=r.randint(2, 3))],
    "truncated responses": lambda r: [Fault("truncate", after_bytes=r.randrange(0, 100))],
    "everything at once": lambda r: [
        Fault("refuse", count=1),
        Fault("reset", after_bytes=r.randrange(1, SIZE)),
        Fault("truncate", after_bytes=r.randrange(0, 100)),
        Fault("stall", after_bytes=r.randrange(1, SIZE), seconds=2.5),
    ],
    "refusals longer than the retry budget": lambda r: [Fault("refuse", count=1000)],
}
# Over ssh every rsync run is a login (a publish takes about 6 s): the daemon runs the table.
SSH_SCENARIOS = ("everything at once",)
RSYNC_CASES = [("daemon", n) for n in sorted(RSYNC_SCENARIOS)] + [("ssh", n) for n in SSH_SCENARIOS]


@pytest.mark.parametrize(("via", "name"), RSYNC_CASES)
def test_rsync_scenario_ends_identical_or_clearly_failed_and_a_rerun_completes(
    via: str,
    name: str,
    rsyncd: RsyncDaemon,
    sshd: SshServer,
    tmp_path: Path,
    rng: random.Random,
) -> None:
    rel = make_release(tmp_path / "src", artifact_size=SIZE)
    journal = tmp_path / "j.sqlite"
    (rsyncd.root / "p").mkdir()
    want = net.want_tree(rel, "img/1.0")
    port_file = tmp_path / "ssh-port"
    env = net.ssh_shim(sshd, tmp_path / "bin", port_file)
    upstream = rsyncd.port if via == "daemon" else sshd.port
    faults = RSYNC_SCENARIOS[name](rng)
    with FaultProxy(("127.0.0.1", upstream), rate=40 * MiB, raw=True) as proxy:
        for fault in faults:
            proxy.add(fault)
        proxy_port = int(proxy.url.rsplit(":", 1)[1])
        if via == "daemon":
            url = f"rsync://127.0.0.1:{proxy_port}/mirror/p"
        else:
            url = f"127.0.0.1:{rsyncd.root / 'p'}"
            port_file.write_text(str(proxy_port))
        argv = net.push_argv(rel, url, journal, "--attempts", "4")
        first = net.run(argv, env)
        injected = sum(1 for r in proxy.requests if r.fault)
    assert injected >= 1, f"{name}: no fault was injected ({faults})"
    published = rsyncd.root / "p"
    assert_identical_or_clear(name, first, "rsync exit", lambda: net.tree(published) == want)
    port_file.write_text(str(sshd.port))
    direct = rsyncd.url("/p") if via == "daemon" else url
    second = net.run(net.push_argv(rel, direct, journal, "--attempts", "4"), env)
    assert second.returncode == 0, second.stderr
    assert net.tree(published) == want, f"{name}: {sorted(net.tree(published))}"  # no .~tmp~
    assert_journal_agrees(journal, want, "img/1.0")
    print(f"rsync {via} scenario {name!r}: {injected} faults, first run exit {first.returncode}")


# -- what every target's scenarios check -------------------------------------------------


def want_objects(rel: Path, under: str) -> dict[str, str]:
    return {k: v for k, v in net.want_tree(rel, under).items() if v != "dir"}


def assert_identical_or_clear(
    name: str, first: Any, cause: str, identical: Callable[[], bool]
) -> None:
    """The run through the faults published exactly, or failed with one clear line."""
    if first.returncode == 0:
        assert identical(), f"{name}: succeeded through the faults but the objects differ"
        return
    assert first.returncode == 1, first.stderr
    last = first.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and cause in last, first.stderr  # names the cause
    assert "Traceback" not in first.stderr


def assert_journal_agrees(journal: Path, want: dict[str, str], under: str) -> None:
    """Every step the journal calls done names a file published with that digest."""
    done = net.done_steps(journal)
    files = {k for k, v in want.items() if v != "dir"}
    assert {f"{under}/{name}" for name, _, _ in done} == files, done
    for name, sha256, _size in done:
        assert want[f"{under}/{name}"] == sha256, name
