"""Fixtures of the reconcile tests: keys, local S3 (moto) and GCS (fake-gcs-server,
gcp-storage-emulator) servers."""

from __future__ import annotations

from tests.imaging.conftest import el_repos  # noqa: F401
from tests.integrity.conftest import keys  # noqa: F401
from tests.publish.conftest import (  # noqa: F401
    aws_env,
    fake_gcs,
    free_port,
    gcs,
    gcs_emulator,
    moto_server,
    rsyncd,
    s3,
)
