"""openstack-glance under faults and kill -9, against a REAL Glance API on 127.0.0.1 behind
the fault proxy: afterwards Glance holds exactly one image of the release, active, public,
byte for byte the disk, its own digests the disk's; no spare queued copy, nothing staged."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from release.model.target import OpenStackGlanceTarget
from release.publish.engine import local_file
from release.publish.glance_image import GlanceRegistry, GlanceSpec
from release.publish.journal import Journal
from release.publish.registry import Patience
from release.publish.retry import Retrier, RetrySettings
from tests.chaos.conftest import RUNS
from tests.faultproxy import Fault, FaultProxy
from tests.publish.glancekit import GlanceServer
from tests.publish.test_glance_image import make_qcow2

pytestmark = [pytest.mark.chaos, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
MiB = 1 << 20


def upstream(glance: GlanceServer) -> tuple[str, int]:
    parts = urlsplit(glance.endpoint)
    return parts.hostname or "", parts.port or 0


def assert_one_good_image(glance: GlanceServer, disk: Path) -> str:
    images = glance.images()
    assert len(images) == 1, [(i["id"], i["status"]) for i in images]
    (image,) = images
    data = disk.read_bytes()
    assert image["status"] == "active" and image["visibility"] == "public"
    assert image["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert image["checksum"] == hashlib.md5(data).hexdigest()  # noqa: S324 - Glance's checksum
    assert glance.data(image["id"]) == data
    assert glance.staged() == []
    return str(image["id"])


@pytest.mark.parametrize("method", ["upload", "glance-direct"])
def test_faults_on_every_call_kind_leave_one_image(
    glance: GlanceServer, tmp_path: Path, method: str
) -> None:
    disk = make_qcow2(tmp_path / "rel", size=3 * MiB)
    part = "file" if method == "upload" else "stage"
    with FaultProxy(upstream(glance)) as proxy:
        proxy.add(Fault("503", match="GET /v2/images?"))
        proxy.add(Fault("503", match="POST /v2/images "))
        proxy.add(Fault("drop", match="POST /v2/images "))  # created, the answer lost
        proxy.add(Fault("reset", match=f"/{part} ", after_bytes=MiB))
        proxy.add(Fault("429", match="PATCH /v2/images/"))
        target = OpenStackGlanceTarget(
            type="openstack-glance", endpoint_url=proxy.url, import_method=method,
            visibility="public",
        )  # fmt: skip
        retrier = Retrier(RetrySettings(attempts=6, initial_wait=0.01, max_wait=0.05))
        with Journal(tmp_path / "j.sqlite") as journal:
            registry = GlanceRegistry(
                target, local_file(disk, "g", journal), "img", "1.0",
                GlanceSpec(7, "x86_64", 1 << 30, False), journal, retrier=retrier,
                patience=Patience(first=0.05, longest=0.2, timeout=120),
            )  # fmt: skip
            result = registry.publish_image()
        assert not proxy.pending()
        assert len(proxy.lines("POST /v2/images ")) == 2  # one retry, which found the image
    image_id = assert_one_good_image(glance, disk)
    assert result.images == {"default": image_id}
    reasons = " | ".join(e.reason for e in retrier.events)
    assert "503" in reasons and "429" in reasons and len(retrier.events) >= 4, reasons


def _run(argv: list[str], delay: float | None) -> bool:
    """Run argv; with a delay, kill -9 its process group then. True if it was killed."""
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=delay or 300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return True
    assert proc.returncode == 0, err.decode()[-2000:]
    json.loads(out)
    return False


@pytest.mark.parametrize("method", ["upload", "glance-direct"])
def test_kill_9_then_rerun_loses_and_doubles_nothing(
    glance: GlanceServer, tmp_path: Path, method: str, rng: random.Random
) -> None:
    disk = make_qcow2(tmp_path / "rel", size=4 * MiB)
    kills = 0
    with FaultProxy(upstream(glance), rate=2 * MiB) as slow:  # the upload takes ~2 s
        for round_ in range(max(2, RUNS // 6)):  # 2 rounds in CI: each ~12 s
            glance.wipe()
            journal = tmp_path / f"j{round_}.sqlite"
            argv = [sys.executable, "-m", "tests.chaos.glance_entry", slow.url, str(disk),
                    str(journal), method]  # fmt: skip
            started = time.monotonic()
            kills += _run(argv, round(rng.uniform(1.0, 6.0), 2))
            assert not _run(argv, None), f"round {round_}: rerun killed?"
            assert_one_good_image(glance, disk)
            assert time.monotonic() - started < 300
    assert kills >= 1  # at least one kill landed while it ran
