"""Against real clouds: skipped unless a test location and credentials are given.

RELEASE_TEST_S3_URL=s3://bucket/prefix (with AWS credentials from the standard chain) and
RELEASE_TEST_GS_URL=gs://bucket/prefix (with Google ADC). Each run publishes a uniquely
named throwaway release under that prefix; clean the prefix up with a lifecycle rule.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from release.publish import url as target_url
from release.publish.api import publish
from release.publish.journal import Journal
from tests.publish.helpers import make_release

pytestmark = pytest.mark.cloud


@pytest.mark.parametrize("variable", ["RELEASE_TEST_S3_URL", "RELEASE_TEST_GS_URL"])
def test_publish_then_republish_on_a_real_cloud(variable: str, tmp_path: Path) -> None:
    location = os.environ.get(variable)
    if not location:
        pytest.skip(f"{variable} is not set")
    rel = make_release(tmp_path / "src", artifact_size=24 * 1024 * 1024)
    target = target_url.parse(f"{location.rstrip('/')}/{uuid.uuid4().hex}")
    with Journal(tmp_path / "j.sqlite") as journal:
        first = publish(rel, target, journal, show_progress=False)
        assert first.ok, first.error
        assert len(first.published) == 6
        again = publish(rel, target, journal, show_progress=False)
    assert again.ok
    assert len(again.skipped) == 6
