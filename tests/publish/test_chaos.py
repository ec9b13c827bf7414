"""Publishing through a fault-injecting proxy, and a kill -9 in the middle of an upload."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from release.model.target import S3Target
from release.publish.api import publish
from release.publish.journal import Journal
from release.publish.options import Options
from release.publish.retry import RetrySettings, Transient
from tests.faultproxy import Fault, FaultProxy
from tests.publish.conftest import S3Server
from tests.publish.helpers import ARTIFACT, make_release

MiB = 1024 * 1024
REPO = Path(__file__).resolve().parents[2]
KEY = f"pub/img/1.0/{ARTIFACT}"
RETRY = RetrySettings(attempts=6, total_seconds=60, initial_wait=0.01, max_wait=0.1)

pytestmark = pytest.mark.chaos


def upstream(s3: S3Server) -> tuple[str, int]:
    host, port = s3.endpoint.removeprefix("http://").split(":")
    return host, int(port)


def client(s3: S3Server) -> Any:
    return boto3.client("s3", endpoint_url=s3.endpoint)


def test_upload_survives_resets_503s_stalls_and_truncation(s3: S3Server, tmp_path: Path) -> None:
    rel = make_release(tmp_path / "src", artifact_size=16 * MiB + 3)
    faults = [
        Fault("503", match="partNumber=2 ", count=3),
        Fault("reset", match="partNumber=3 ", after_bytes=MiB),
        Fault("stall", match="partNumber=4 ", seconds=2.5),
        Fault("truncate", match="GET /releases?uploads", after_bytes=20),
        Fault("503", match="POST ", count=1),  # start or complete of the multipart upload
        Fault("reset", match="PUT /releases/pub/img/1.0/manifest.json ", after_bytes=5),
    ]
    with FaultProxy(upstream(s3)) as proxy:
        for fault in faults:
            proxy.add(fault)
        options = Options(endpoint_url=proxy.url, part_size=5 * MiB, concurrency=2, read_timeout=1)
        target = S3Target(type="s3", bucket="releases", prefix="pub")
        with Journal(tmp_path / "j.sqlite") as journal:
            summary = publish(
                rel, target, journal, options=options, retry=RETRY, show_progress=False
            )
        assert proxy.pending() == []  # every fault was injected
    assert summary.ok, summary.error
    reasons = " ".join(r.reason for r in summary.retries)
    assert "503" in reasons
    assert len(summary.retries) >= 8
    assert any("manifest.json" in r.what for r in summary.retries)
    for f in rel.iterdir():
        body = client(s3).get_object(Bucket="releases", Key=f"pub/img/1.0/{f.name}")["Body"]
        assert body.read() == f.read_bytes()
    assert client(s3).list_multipart_uploads(Bucket="releases").get("Uploads", []) == []


@pytest.mark.parametrize("cut", [0, 39, 120])
def test_a_cut_answer_to_starting_an_upload_is_retried(
    s3: S3Server, tmp_path: Path, cut: int
) -> None:
    # Its body cut to nothing, botocore parses the 200 as a well-formed empty result, with no
    # UploadId (a KeyError, once: CI seed 1256164192). Cut anywhere else it fails to parse.
    rel = make_release(tmp_path / "src", artifact_size=11 * MiB)
    with FaultProxy(upstream(s3)) as proxy:
        proxy.add(Fault("truncate", match="POST /releases/pub/img/1.0/", after_bytes=cut))
        options = Options(endpoint_url=proxy.url, part_size=5 * MiB)
        target = S3Target(type="s3", bucket="releases", prefix="pub")
        with Journal(tmp_path / "j.sqlite") as journal:
            summary = publish(
                rel, target, journal, options=options, retry=RETRY, show_progress=False
            )
        assert proxy.pending() == []
    assert summary.ok, summary.error
    assert [r.what for r in summary.retries] == [f"start upload {KEY}"]
    if cut == 0:
        assert "incomplete answer from S3 (no UploadId)" in summary.retries[0].reason
    body = client(s3).get_object(Bucket="releases", Key=KEY)["Body"].read()
    assert body == (rel / ARTIFACT).read_bytes()
    assert client(s3).list_multipart_uploads(Bucket="releases").get("Uploads", []) == []


def test_a_503_storm_exhausts_the_budget_and_stops(s3: S3Server, tmp_path: Path) -> None:
    rel = make_release(tmp_path / "src", artifact_size=10)
    with FaultProxy(upstream(s3)) as proxy:
        proxy.add(Fault("503", count=1000))
        options = Options(endpoint_url=proxy.url)
        target = S3Target(type="s3", bucket="releases")
        settings = RetrySettings(attempts=3, initial_wait=0.01, max_wait=0.01)
        with Journal(tmp_path / "j.sqlite") as journal, pytest.raises(Transient, match="503"):
            publish(rel, target, journal, options=options, retry=settings, show_progress=False)
        assert len(proxy.lines()) == 3  # exactly the attempts allowed, no SDK retries on top


def _parts_on_server(s3: S3Server) -> tuple[str, set[int]]:
    uploads = client(s3).list_multipart_uploads(Bucket="releases").get("Uploads", [])
    assert [u["Key"] for u in uploads] == [KEY]
    upload_id = uploads[0]["UploadId"]
    parts = client(s3).list_parts(Bucket="releases", Key=KEY, UploadId=upload_id)
    return upload_id, {int(p["PartNumber"]) for p in parts.get("Parts", [])}


@pytest.mark.slow
def test_kill_9_mid_upload_then_rerun_resends_no_completed_part(
    s3: S3Server, aws_env: dict[str, str], tmp_path: Path
) -> None:
    size, part = 40 * MiB, 5 * MiB
    rel = make_release(tmp_path / "src", artifact_size=size)
    journal = tmp_path / "j.sqlite"
    with FaultProxy(upstream(s3), rate=10 * MiB) as proxy:
        argv = [
            sys.executable, "-m", "tests.publish.cli_entry", "push", str(rel), "s3://releases/pub",
            "--endpoint-url", proxy.url, "--journal", str(journal), "--part-size", "5MiB",
            "--concurrency", "2",
        ]  # fmt: skip
        proc = subprocess.Popen(argv, cwd=REPO, env=aws_env, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while proxy.bytes_up("partNumber=") < 0.7 * size:
                assert proc.poll() is None, "the upload finished before it could be killed"
                assert time.monotonic() < deadline
                time.sleep(0.02)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    upload_id, done = _parts_on_server(s3)
    assert 3 <= len(done) < size // part

    with FaultProxy(upstream(s3)) as proxy, Journal(journal) as j:
        options = Options(endpoint_url=proxy.url, part_size=part, concurrency=2)
        target = S3Target(type="s3", bucket="releases", prefix="pub")
        summary = publish(rel, target, j, options=options, retry=RETRY, show_progress=False)
        resent = {int(m) for m in re.findall(r"partNumber=(\d+)", " ".join(proxy.lines()))}
        sent_bytes = proxy.bytes_up("partNumber=")
    assert summary.ok, summary.error
    assert resent.isdisjoint(done)  # no completed part went up again
    assert resent | done == set(range(1, size // part + 1))
    assert sent_bytes == size - len(done) * part
    assert upload_id in " ".join(proxy.lines("uploadId="))  # the same upload was resumed
    assert client(s3).list_multipart_uploads(Bucket="releases").get("Uploads", []) == []
    body = client(s3).get_object(Bucket="releases", Key=KEY)["Body"].read()
    assert body == (rel / ARTIFACT).read_bytes()
