"""S3 release objects are create-only (`IfNoneMatch='*'`), proved against moto with a writer
racing ours: it creates the key after our listing found it free and before our upload lands.
Ours must get 412 and leave the other object as it is, never overwrite it; the read-back then
finds bytes that are not ours and the publish stops (GCS: tests/publish/test_gcs_create_only)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest

from release.model.target import S3Target
from release.publish.api import publish
from release.publish.aws_client import shared_session
from release.publish.journal import Journal
from release.publish.mirror import Remote
from release.publish.options import Options
from release.publish.retry import RetrySettings
from release.publish.s3 import S3Mirror
from tests.publish.conftest import S3Server
from tests.publish.helpers import ARTIFACT, make_release

MiB = 1024 * 1024
FAST = RetrySettings(attempts=3, total_seconds=20, initial_wait=0.01, max_wait=0.05)
KEY = f"pub/img/1.0/{ARTIFACT}"
THEIRS = b"another writer's bytes"


def _race_after_listing(monkeypatch: pytest.MonkeyPatch, s3: S3Server) -> None:
    """Another writer creates our artifact's key right after our listing saw it free."""
    listed = S3Mirror.present

    def present_then_race(self: S3Mirror, names: Sequence[str]) -> dict[str, Remote]:
        found = listed(self, names)
        assert ARTIFACT not in found
        boto3.client("s3", endpoint_url=s3.endpoint).put_object(
            Bucket="releases", Key=KEY, Body=THEIRS
        )
        return found

    monkeypatch.setattr(S3Mirror, "present", present_then_race)


@pytest.fixture
def answers() -> Iterator[list[tuple[str, dict[str, Any], int]]]:
    """Each S3 call made for the artifact's key: operation, headers sent, HTTP status got."""
    calls: list[tuple[str, dict[str, Any], int]] = []
    sent: dict[int, dict[str, Any]] = {}

    def before(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if params.get("url_path", "").split("?")[0].endswith(ARTIFACT):
            sent[id(context)] = dict(params.get("headers", {}))

    def after(http_response: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
        if id(context) in sent:
            calls.append((model.name, sent.pop(id(context)), http_response.status_code))

    events = shared_session().events
    events.register("before-call.s3", before)
    events.register("after-call.s3", after)
    yield calls
    events.unregister("before-call.s3", before)
    events.unregister("after-call.s3", after)


@pytest.mark.parametrize("size", [1000, 11 * MiB], ids=["put", "multipart"])
def test_a_racing_writers_object_is_never_overwritten(
    s3: S3Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    answers: list[tuple[str, dict[str, Any], int]],
    size: int,
) -> None:
    rel = make_release(tmp_path / "src", artifact_size=size)
    _race_after_listing(monkeypatch, s3)
    target = S3Target(type="s3", bucket="releases", prefix="pub")
    options = Options(endpoint_url=s3.endpoint, part_size=5 * MiB)
    with Journal(tmp_path / "j.sqlite") as journal:
        summary = publish(rel, target, journal, options=options, retry=FAST, show_progress=False)
    assert not summary.ok  # the 412 is read back as another writer's bytes: stop
    assert f"{ARTIFACT}: read back {len(THEIRS)} bytes" in (summary.error or ""), summary.error
    client: Any = boto3.client("s3", endpoint_url=s3.endpoint)
    got = client.get_object(Bucket="releases", Key=KEY)["Body"].read()
    assert got == THEIRS, "our upload replaced another writer's object"
    creating = "PutObject" if size < 5 * MiB else "CompleteMultipartUpload"
    ours = [(headers, status) for op, headers, status in answers if op == creating]
    assert ours == [({**ours[0][0], "If-None-Match": "*"}, 412)], ours  # refused, not retried
    assert client.list_multipart_uploads(Bucket="releases").get("Uploads", []) == []
