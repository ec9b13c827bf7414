"""GCS create-only against fake-gcs-server, which (unlike gcp-storage-emulator) enforces
ifGenerationMatch with a 412 on simple uploads. It ignores it on resumable uploads, so for
those the tests prove what was sent."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from release.model.target import GcsTarget
from release.publish.api import publish
from release.publish.engine import PublishSummary
from release.publish.gcs import CHUNK, GcsMirror
from release.publish.journal import Journal
from release.publish.mirror import Conflict, Remote
from release.publish.options import Options
from release.publish.retry import RetrySettings
from tests.faultproxy import Fault, FaultProxy
from tests.publish.conftest import GcsServer
from tests.publish.helpers import ARTIFACT, make_release, seal
from tests.publish.test_cli import release

FAST = RetrySettings(attempts=4, total_seconds=30, initial_wait=0.01, max_wait=0.05)
KEY = f"pub/img/1.0/{ARTIFACT}"


@pytest.fixture
def bucket(fake_gcs: GcsServer) -> Any:
    """A fresh bucket on the session's fake-gcs-server."""
    return fake_gcs.client().create_bucket(f"rel-{uuid.uuid4().hex[:12]}")


def push(rel: Path, endpoint: str, bucket: Any, journal: Journal) -> PublishSummary:
    target = GcsTarget(type="gcs", bucket=bucket.name, prefix="pub")
    options = Options(endpoint_url=endpoint)
    return publish(rel, target, journal, options=options, retry=FAST, show_progress=False)


def proxied(fake_gcs: GcsServer) -> FaultProxy:
    host, port = fake_gcs.endpoint.removeprefix("http://").split(":")
    return FaultProxy((host, int(port)))


def test_other_bytes_already_there_are_refused_exit_1(
    fake_gcs: GcsServer, bucket: Any, tmp_path: Path
) -> None:
    rel = make_release(tmp_path / "src", artifact_size=1000)
    bucket.blob(KEY).upload_from_string(b"x" * 1000)
    before = bucket.get_blob(KEY).generation
    out = release(
        "push", str(rel), f"gs://{bucket.name}/pub", "--endpoint-url", fake_gcs.endpoint,
        "--journal", str(tmp_path / "j.sqlite"),
    )  # fmt: skip
    assert out.returncode == 1, out.stderr
    assert f"the target already holds different files under these names: {ARTIFACT}" in out.stderr
    assert "publish a new version instead" in out.stderr
    assert "Traceback" not in out.stderr
    blob = bucket.get_blob(KEY)
    assert (blob.generation, blob.download_as_bytes()) == (before, b"x" * 1000)
    assert bucket.get_blob("pub/img/1.0/manifest.json") is None  # the run stopped first


@pytest.mark.parametrize("size", [1000, CHUNK], ids=["small", "one-chunk"])
def test_an_object_appearing_after_the_listing_gets_412_and_a_conflict(
    fake_gcs: GcsServer,
    bucket: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    size: int,
) -> None:
    rel = make_release(tmp_path / "src", artifact_size=size)
    listed = GcsMirror.present

    def present_then_race(self: GcsMirror, names: Sequence[str]) -> dict[str, Remote]:
        found = listed(self, names)
        bucket.blob(KEY).upload_from_string(b"other bytes")  # another writer, just now
        return found

    monkeypatch.setattr(GcsMirror, "present", present_then_race)
    with Journal(tmp_path / "j.sqlite") as journal, proxied(fake_gcs) as proxy:
        with pytest.raises(Conflict) as caught:
            push(rel, proxy.url, bucket, journal)
        uploads = proxy.lines("/upload/")
    assert "appeared while publishing (HTTP 412" in str(caught.value)
    assert "left untouched" in str(caught.value)
    assert len(uploads) == 1  # a 412 is not retried
    assert "ifGenerationMatch=0" in uploads[0]
    assert bucket.get_blob(KEY).download_as_bytes() == b"other bytes"


def test_same_bytes_appearing_after_the_listing_count_as_published(
    fake_gcs: GcsServer, bucket: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rel = make_release(tmp_path / "src", artifact_size=1000)
    data = (rel / ARTIFACT).read_bytes()
    listed = GcsMirror.present

    def present_then_race(self: GcsMirror, names: Sequence[str]) -> dict[str, Remote]:
        found = listed(self, names)
        blob = bucket.blob(KEY)  # another run of ours, the same release
        blob.metadata = {"sha256": hashlib.sha256(data).hexdigest()}
        blob.upload_from_string(data)
        return found

    monkeypatch.setattr(GcsMirror, "present", present_then_race)
    with Journal(tmp_path / "j.sqlite") as journal:
        summary = push(rel, fake_gcs.endpoint, bucket, journal)
    assert summary.ok, summary.error
    assert ARTIFACT in [o.name for o in summary.published]


def test_same_bytes_already_there_are_skipped_and_every_upload_is_create_only(
    fake_gcs: GcsServer, bucket: Any, tmp_path: Path
) -> None:
    rel = make_release(tmp_path / "src", artifact_size=CHUNK + 1)  # one resumable upload
    seal(rel)
    with Journal(tmp_path / "j1.sqlite") as journal, proxied(fake_gcs) as proxy:
        first = push(rel, proxy.url, bucket, journal)
        starts = [line for line in proxy.lines("/upload/") if line.startswith("POST ")]
    assert first.ok, first.error
    assert len(starts) == 6
    assert all("ifGenerationMatch=0" in line for line in starts), starts
    assert sum("uploadType=resumable" in line for line in starts) == 1
    generations = {b.name: b.generation for b in bucket.list_blobs()}
    with Journal(tmp_path / "j2.sqlite") as journal:  # no notes: the listing decides
        again = push(rel, fake_gcs.endpoint, bucket, journal)
    assert again.ok, again.error
    assert {o.status for o in again.outcomes} == {"skipped"}
    assert {b.name: b.generation for b in bucket.list_blobs()} == generations


def test_a_412_opening_a_resumable_upload_is_a_conflict_too(
    fake_gcs: GcsServer, bucket: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fake-gcs-server lets a resumable upload overwrite (it ignores ifGenerationMatch
    there), so the proxy answers the session's opening with the 412 GCS would send."""
    rel = make_release(tmp_path / "src", artifact_size=CHUNK + 1)
    listed = GcsMirror.present

    def present_then_race(self: GcsMirror, names: Sequence[str]) -> dict[str, Remote]:
        found = listed(self, names)
        bucket.blob(KEY).upload_from_string(b"other bytes")
        return found

    monkeypatch.setattr(GcsMirror, "present", present_then_race)
    with Journal(tmp_path / "j.sqlite") as journal, proxied(fake_gcs) as proxy:
        proxy.add(Fault("412", match="uploadType=resumable"))
        with pytest.raises(Conflict, match="appeared while publishing"):
            push(rel, proxy.url, bucket, journal)
        opened = proxy.lines("uploadType=resumable")
    assert len(opened) == 1  # not retried
    assert "ifGenerationMatch=0" in opened[0]
    assert bucket.get_blob(KEY).download_as_bytes() == b"other bytes"
