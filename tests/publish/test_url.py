from __future__ import annotations

import re

import pytest

from release.errors import InvalidInput
from release.model.target import FilesystemTarget, GcsTarget, RsyncTarget, S3Target
from release.publish.url import parse


def test_each_form_gives_its_target() -> None:
    assert parse("file:///srv/mirror") == FilesystemTarget(type="filesystem", path="/srv/mirror")
    assert parse("s3://releases/centos/images/") == S3Target(
        type="s3", bucket="releases", prefix="centos/images"
    )
    assert parse("s3://releases", "http://127.0.0.1:9000") == S3Target(
        type="s3", bucket="releases", endpoint_url="http://127.0.0.1:9000"
    )
    assert parse("gs://my-bucket/p") == GcsTarget(type="gcs", bucket="my-bucket", prefix="p")
    assert parse("rsync://mirror.example.org/centos/cloud/") == RsyncTarget(
        type="rsync", url="rsync://mirror.example.org/centos/cloud"
    )
    assert parse("mirror@host.example:/srv/centos") == RsyncTarget(
        type="rsync", url="mirror@host.example:/srv/centos"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/srv/mirror", "not a target URL"),
        ("http://example.org/x", "not a target URL"),
        ("file://host/srv", "file:///absolute/path"),
        ("s3://Bad_Bucket/x", "not a valid bucket name"),
        ("s3://releases/a/../b", "'..'"),
        ("gs://releases/a//b", "empty"),
        ("rsync://host", "rsync://host/module/path"),
        ("host:", "not a target URL"),
    ],
)
def test_bad_urls_say_what_to_write(url: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        parse(url)


def test_endpoint_url_only_for_object_stores() -> None:
    with pytest.raises(InvalidInput, match="--endpoint-url"):
        parse("file:///srv", "http://127.0.0.1:9000")
