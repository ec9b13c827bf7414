"""Scripted network faults across a whole `release push` to S3 (moto behind tests/faultproxy.py).

Each scenario ends with the objects byte-identical to the release, or with a clear error
(exit 1, one line naming the cause, "rerun to resume"); either way a clean rerun completes.
Offsets and counts are drawn from the seeded rng (RELEASE_CHAOS_SEED reproduces a run).
"""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.faultproxy import Fault, FaultProxy
from tests.publish.conftest import S3Server
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
