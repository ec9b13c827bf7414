"""The shared journal in S3 (moto): same records as SQLite; a second machine resumes a run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import boto3

from release.model.target import S3Target
from release.publish.api import publish
from release.publish.journal import DONE, Journal, Part
from release.publish.options import Options
from release.publish.retry import RetrySettings
from release.publish.s3journal import S3Journal, open_journal
from tests.faultproxy import Fault, FaultProxy
from tests.publish.conftest import S3Server
from tests.publish.helpers import make_release

MiB = 1024 * 1024


def _journal(s3: S3Server) -> S3Journal:
    boto3.client("s3", endpoint_url=s3.endpoint).create_bucket(Bucket="journals")
    return S3Journal("journals", "runs/1", endpoint_url=s3.endpoint)


def test_records_round_trip_like_the_sqlite_journal(s3: S3Server, tmp_path: Path) -> None:
    journal = _journal(s3)
    journal.record("s1", "t", "x.raw", "aa", 3, DONE, "read back")
    journal.begin_upload("s2", "upload-1", 8)
    journal.add_part("s2", Part(2, '"e2"', "c2", 8))
    journal.add_part("s2", Part(1, '"e1"', "c1", 8))
    other = S3Journal("journals", "runs/1", endpoint_url=s3.endpoint)  # another machine
    assert other.state("s1") == DONE
    assert other.state("nope") is None
    upload = other.upload("s2")
    assert upload is not None
    assert (upload.upload_id, upload.part_size) == ("upload-1", 8)
    assert [p.number for p in upload.parts] == [1, 2]
    other.end_upload("s2")
    assert journal.upload("s2") is None
    keys = boto3.client("s3", endpoint_url=s3.endpoint).list_objects_v2(Bucket="journals")
    assert [o["Key"] for o in keys["Contents"]] == ["runs/1/steps/s1.json"]


def test_open_journal_picks_the_backend(s3: S3Server, tmp_path: Path) -> None:
    assert isinstance(open_journal(str(tmp_path / "j.sqlite")), Journal)
    assert isinstance(open_journal("s3://journals/runs/2", s3.endpoint), S3Journal)


def test_a_second_machine_resumes_the_same_upload(s3: S3Server, tmp_path: Path) -> None:
    size, part = 20 * MiB, 5 * MiB
    rel = make_release(tmp_path / "src", artifact_size=size)
    target = S3Target(type="s3", bucket="releases", prefix="pub")
    _journal(s3)
    host, port = s3.endpoint.removeprefix("http://").split(":")
    with FaultProxy((host, int(port))) as proxy:
        proxy.add(Fault("reset", match="partNumber=3 ", after_bytes=MiB))
        options = Options(endpoint_url=proxy.url, part_size=part, concurrency=1)
        first = publish(
            rel,
            target,
            S3Journal("journals", "runs/1", endpoint_url=s3.endpoint),
            options=options,
            retry=RetrySettings(attempts=1),
            show_progress=False,
        )
        assert not first.ok
        before = set(re.findall(r"partNumber=(\d+) ", " ".join(proxy.lines())))
        proxy.requests.clear()
        second = publish(
            rel,
            target,
            S3Journal("journals", "runs/1", endpoint_url=s3.endpoint),
            options=options,
            show_progress=False,
        )
        after = re.findall(r"partNumber=(\d+) ", " ".join(proxy.lines()))
    assert second.ok, second.error
    assert before == {"1", "2", "3"}
    assert sorted(after) == ["3", "4"]  # parts 1 and 2 were not sent again
    body: Any = boto3.client("s3", endpoint_url=s3.endpoint).get_object(
        Bucket="releases", Key="pub/img/1.0/img-1.0-base.qcow2"
    )["Body"]
    assert body.read() == (rel / "img-1.0-base.qcow2").read_bytes()
