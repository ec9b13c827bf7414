from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from release.errors import InvalidInput
from release.model.target import GcsTarget
from release.publish import gcs as gcs_adapter
from release.publish.api import publish
from release.publish.engine import PublishSummary
from release.publish.journal import Journal
from release.publish.options import Options
from release.publish.retry import RetrySettings
from tests.faultproxy import Fault, FaultProxy
from tests.publish.conftest import GcsServer
from tests.publish.helpers import ARTIFACT, flip_byte, make_release, seal

MiB = 1024 * 1024
FAST = RetrySettings(attempts=4, total_seconds=30, initial_wait=0.01, max_wait=0.05)


def push(rel: Path, endpoint: str, journal: Journal, **kw: Any) -> PublishSummary:
    target = GcsTarget(type="gcs", bucket=kw.pop("bucket", "releases"), prefix="pub")
    options = Options(endpoint_url=endpoint)
    retry = kw.pop("retry", FAST)
    return publish(rel, target, journal, options=options, retry=retry, show_progress=False, **kw)


def test_persisted_reads_the_range_header() -> None:
    response = requests.Response()
    response.headers["Range"] = "bytes=0-524290"
    assert gcs_adapter.persisted(response) == 524291
    response.headers["Range"] = "bytes=0-0"  # an emulator's answer for an empty session
    assert gcs_adapter.persisted(response) == 0
    del response.headers["Range"]
    assert gcs_adapter.persisted(response) == 0


def test_publishes_with_matching_checksums_and_reruns_skip(gcs: GcsServer, tmp_path: Path) -> None:
    rel = make_release(tmp_path / "src", artifact_size=20 * MiB + 11)
    with Journal(tmp_path / "j.sqlite") as journal:
        first = push(rel, gcs.endpoint, journal)
        assert first.ok, first.error
        assert len(first.published) == 6
        again = push(rel, gcs.endpoint, journal)
    assert again.ok
    assert len(again.skipped) == 6
    bucket = gcs.client().bucket("releases")
    for f in rel.iterdir():
        blob = bucket.get_blob(f"pub/img/1.0/{f.name}")
        assert blob.download_as_bytes() == f.read_bytes()
        assert blob.crc32c == gcs_adapter.local_checksums(f)[0]


def test_an_interrupted_upload_resumes_where_the_session_stands(
    gcs: GcsServer, tmp_path: Path
) -> None:
    size = 20 * MiB
    rel = make_release(tmp_path / "src", artifact_size=size)
    host, port = gcs.endpoint.removeprefix("http://").split(":")
    journal = Journal(tmp_path / "j.sqlite")
    with FaultProxy((host, int(port))) as proxy:
        # The second chunk of the artifact dies midway, and there is no retry budget.
        def arm() -> None:
            while proxy.bytes_up("upload_id=") < gcs_adapter.CHUNK:
                time.sleep(0.005)
            proxy.add(Fault("reset", match="upload_id=", after_bytes=MiB))

        threading.Thread(target=arm, daemon=True).start()
        failed = push(rel, proxy.url, journal, retry=RetrySettings(attempts=1))
        assert not failed.ok
        before = proxy.bytes_up("upload_id=")
        # The rerun goes through the same address: the session URL names it.
        done = push(rel, proxy.url, journal)
        sent = proxy.bytes_up("upload_id=") - before
    journal.close()
    assert done.ok, done.error
    assert 0 < sent <= size - gcs_adapter.CHUNK + 5 * 1024  # the first chunk was not resent
    # A fresh blob: a fetched one's download link names the proxy, stopped by now.
    blob = gcs.client().bucket("releases").blob(f"pub/img/1.0/{ARTIFACT}")
    assert blob.download_as_bytes() == (rel / ARTIFACT).read_bytes()


def test_a_missing_bucket_fails_fast(gcs: GcsServer, tmp_path: Path) -> None:
    rel = make_release(tmp_path / "src", artifact_size=10)
    started = time.monotonic()
    with Journal(tmp_path / "j.sqlite") as journal, pytest.raises(InvalidInput, match="not found"):
        push(rel, gcs.endpoint, journal, bucket="no-such-bucket")
    assert time.monotonic() - started < 5


@pytest.mark.chaos
def test_upload_survives_resets_and_503s(gcs: GcsServer, tmp_path: Path) -> None:
    rel = make_release(tmp_path / "src", artifact_size=20 * MiB + 5)
    host, port = gcs.endpoint.removeprefix("http://").split(":")
    with FaultProxy((host, int(port))) as proxy:
        proxy.add(Fault("503", match="uploadType=resumable&ifGenerationMatch", count=2))
        proxy.add(Fault("reset", match="upload_id=", after_bytes=3 * MiB))
        proxy.add(Fault("503", match="upload_id=", count=2))
        # The first GET of the manifest is the listing (a 404), the second its read-back.
        proxy.add(
            Fault(
                "truncate",
                match="GET /storage/v1/b/releases/o/pub%2Fimg%2F1.0%2Fmanifest.json?",
                after_bytes=10,
                count=2,
            )
        )
        with Journal(tmp_path / "j.sqlite") as journal:
            summary = push(rel, proxy.url, journal)
        assert proxy.pending() == []
        assert summary.ok, summary.error
        assert len(summary.retries) >= 6
        # Read inside the block: the emulator's download links name the proxy's address.
        bucket = gcs.client().bucket("releases")
        for f in rel.iterdir():
            assert bucket.get_blob(f"pub/img/1.0/{f.name}").download_as_bytes() == f.read_bytes()


@pytest.mark.parametrize("size", [1000, 20 * MiB + 3], ids=["one-request", "resumable"])
def test_a_file_changed_after_sealing_is_never_published(
    gcs: GcsServer, tmp_path: Path, size: int
) -> None:
    rel = make_release(tmp_path / "src", artifact_size=size)
    seal(rel)
    flip_byte(rel / ARTIFACT, size // 2)
    with Journal(tmp_path / "j.sqlite") as journal:
        summary = push(rel, gcs.endpoint, journal)
    assert summary.verification_failed
    assert "changed after the release was sealed" in str(summary.error)
    assert list(gcs.client().bucket("releases").list_blobs()) == []
