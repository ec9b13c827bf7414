from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from release.errors import InvalidInput
from release.model.target import S3Target
from release.publish.api import publish
from release.publish.engine import PublishSummary
from release.publish.journal import Journal
from release.publish.mirror import Conflict
from release.publish.options import Options
from release.publish.retry import RetrySettings
from release.publish.s3multipart import composite_checksum, part_ranges, part_size_for
from release.publish.upload_digest import sha256_file
from tests.faultproxy import Fault, FaultProxy
from tests.publish.conftest import S3Server
from tests.publish.helpers import ARTIFACT, flip_byte, make_release, seal

MiB = 1024 * 1024
FAST = RetrySettings(attempts=3, total_seconds=20, initial_wait=0.01, max_wait=0.05)


def push(rel: Path, s3: S3Server, journal: Journal, **kw: Any) -> PublishSummary:
    target = S3Target(type="s3", bucket=kw.pop("bucket", "releases"), prefix="pub")
    options = Options(endpoint_url=kw.pop("endpoint", s3.endpoint), part_size=5 * MiB)
    return publish(rel, target, journal, options=options, retry=FAST, show_progress=False, **kw)


def client(s3: S3Server) -> Any:
    return boto3.client("s3", endpoint_url=s3.endpoint)


def test_part_ranges_cover_the_file_exactly() -> None:
    ranges = part_ranges(12 * MiB + 1, 5 * MiB)
    assert ranges == [(1, 0, 5 * MiB), (2, 5 * MiB, 5 * MiB), (3, 10 * MiB, 2 * MiB + 1)]
    assert part_size_for(1) == 16 * MiB
    assert part_size_for(200 * 1024 * MiB) == 21 * MiB  # under 10,000 parts, whole MiB
    assert part_size_for(10, wanted=1) == 5 * MiB  # S3's floor


def test_composite_checksum_is_sha256_of_part_digests() -> None:
    a, b = hashlib.sha256(b"a").digest(), hashlib.sha256(b"b").digest()
    assert composite_checksum([a, b]) != composite_checksum([b, a])


def test_publishes_byte_identical_objects_with_digests(s3: S3Server, tmp_path: Path) -> None:
    rel = make_release(tmp_path / "src", artifact_size=12 * MiB + 7)
    with Journal(tmp_path / "j.sqlite") as journal:
        summary = push(rel, s3, journal)
    assert summary.ok, summary.error
    assert len(summary.published) == 6
    c = client(s3)
    for f in rel.iterdir():
        obj = c.get_object(Bucket="releases", Key=f"pub/img/1.0/{f.name}")
        data = obj["Body"].read()
        assert data == f.read_bytes()
        assert obj["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert c.list_multipart_uploads(Bucket="releases").get("Uploads", []) == []


def test_rerun_skips_everything_without_uploading(s3: S3Server, tmp_path: Path) -> None:
    rel = make_release(tmp_path / "src", artifact_size=12 * MiB)
    with Journal(tmp_path / "j.sqlite") as journal:
        push(rel, s3, journal)
        before = client(s3).head_object(Bucket="releases", Key=f"pub/img/1.0/{ARTIFACT}")
        time.sleep(1.1)  # LastModified has one-second resolution
        summary = push(rel, s3, journal)
    assert summary.ok
    assert summary.published == []
    assert len(summary.skipped) == 6
    after = client(s3).head_object(Bucket="releases", Key=f"pub/img/1.0/{ARTIFACT}")
    assert after["LastModified"] == before["LastModified"]


def test_an_object_with_other_bytes_is_refused(s3: S3Server, tmp_path: Path) -> None:
    rel = make_release(tmp_path / "src", artifact_size=1000)
    client(s3).put_object(Bucket="releases", Key=f"pub/img/1.0/{ARTIFACT}", Body=b"x" * 1000)
    with Journal(tmp_path / "j.sqlite") as journal, pytest.raises(Conflict, match=ARTIFACT):
        push(rel, s3, journal)
    body = client(s3).get_object(Bucket="releases", Key=f"pub/img/1.0/{ARTIFACT}")["Body"]
    assert body.read() == b"x" * 1000


def test_orphaned_uploads_of_our_keys_are_aborted(s3: S3Server, tmp_path: Path) -> None:
    rel = make_release(tmp_path / "src", artifact_size=6 * MiB)
    c = client(s3)
    c.create_multipart_upload(Bucket="releases", Key=f"pub/img/1.0/{ARTIFACT}")
    c.create_multipart_upload(Bucket="releases", Key="someone/else.raw")
    with Journal(tmp_path / "j.sqlite") as journal:
        assert push(rel, s3, journal).ok
    left = [u["Key"] for u in c.list_multipart_uploads(Bucket="releases").get("Uploads", [])]
    assert left == ["someone/else.raw"]


def test_a_missing_bucket_fails_fast_without_retries(s3: S3Server, tmp_path: Path) -> None:
    rel = make_release(tmp_path / "src", artifact_size=10)
    started = time.monotonic()
    with (
        Journal(tmp_path / "j.sqlite") as journal,
        pytest.raises(InvalidInput, match="s3://no-such-bucket: the bucket does not exist"),
    ):
        push(rel, s3, journal, bucket="no-such-bucket")
    assert time.monotonic() - started < 5


def test_dry_run_sends_nothing(s3: S3Server, tmp_path: Path) -> None:
    rel = make_release(tmp_path / "src", artifact_size=10)
    with Journal(tmp_path / "j.sqlite") as journal:
        summary = push(rel, s3, journal, dry_run=True)
    assert {o.status for o in summary.outcomes} == {"would-send"}
    assert client(s3).list_objects_v2(Bucket="releases").get("KeyCount") == 0


def test_bad_credentials_fail_fast_with_a_clear_message(
    s3_with_auth: S3Server,
    aws_env: dict[str, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rel = make_release(tmp_path / "src", artifact_size=10)
    retries = RetrySettings(attempts=5, total_seconds=60, initial_wait=3, max_wait=3)
    target = S3Target(type="s3", bucket="releases")
    started = time.monotonic()
    with Journal(tmp_path / "j.sqlite") as journal, pytest.raises(InvalidInput) as err:
        publish(
            rel,
            target,
            journal,
            options=Options(endpoint_url=s3_with_auth.endpoint),
            retry=retries,
            show_progress=False,
        )
    assert "access denied" in str(err.value)
    assert "check the AWS credentials" in str(err.value)
    assert "retrying" not in caplog.text
    assert time.monotonic() - started < 3  # one retry would have waited 3 s


def test_a_sealed_release_is_published_without_a_hashing_pass_first(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rel = make_release(tmp_path / "src", artifact_size=12 * MiB + 7)
    seal(rel)
    hashed: list[str] = []

    def recording(path: Path) -> str:
        hashed.append(path.name)
        return sha256_file(path)

    monkeypatch.setattr("release.publish.engine.sha256_file", recording)
    with Journal(tmp_path / "j.sqlite") as journal:
        summary = push(rel, s3, journal)
    assert summary.ok, summary.error
    assert hashed == ["sha256sum.txt", "sha256sum.txt.asc"]  # not listed in sha256sum.txt
    obj = client(s3).get_object(Bucket="releases", Key=f"pub/img/1.0/{ARTIFACT}")
    assert obj["Body"].read() == (rel / ARTIFACT).read_bytes()


@pytest.mark.parametrize("size", [1000, 12 * MiB + 7], ids=["one-put", "multipart"])
def test_a_file_changed_after_sealing_is_never_published(
    s3: S3Server, tmp_path: Path, size: int
) -> None:
    rel = make_release(tmp_path / "src", artifact_size=size)
    seal(rel)
    flip_byte(rel / ARTIFACT, size // 2)  # in the second of three parts
    with Journal(tmp_path / "j.sqlite") as journal:
        summary = push(rel, s3, journal)
    assert not summary.ok
    assert summary.verification_failed
    assert summary.error is not None
    assert "changed after the release was sealed" in summary.error
    assert [o.status for o in summary.outcomes] == ["failed"]
    c = client(s3)
    assert c.list_objects_v2(Bucket="releases").get("KeyCount") == 0
    assert c.list_multipart_uploads(Bucket="releases").get("Uploads", []) == []


def test_a_resumed_upload_resends_parts_read_from_other_bytes(s3: S3Server, tmp_path: Path) -> None:
    size = 12 * MiB + 7
    rel = make_release(tmp_path / "src", artifact_size=size)
    seal(rel)
    good = (rel / ARTIFACT).read_bytes()
    flip_byte(rel / ARTIFACT, 10)  # part 1 goes up from these bytes
    host, port = s3.endpoint.removeprefix("http://").split(":")
    with Journal(tmp_path / "j.sqlite") as journal:
        with FaultProxy((host, int(port))) as proxy:
            proxy.add(Fault("503", match="partNumber=3 ", count=1000))
            first = push(rel, s3, journal, endpoint=proxy.url)
        assert not first.ok
        held = client(s3).list_multipart_uploads(Bucket="releases")["Uploads"]
        assert len(held) == 1
        (rel / ARTIFACT).write_bytes(good)
        again = push(rel, s3, journal)
    assert again.ok, again.error
    obj = client(s3).get_object(Bucket="releases", Key=f"pub/img/1.0/{ARTIFACT}")
    assert obj["Body"].read() == good
