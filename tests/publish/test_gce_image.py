"""The GCE image registry: GCS staging against the emulator, Compute against a recording stub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from release.model.target import GceImageTarget
from release.publish import layout
from release.publish.engine import local_files
from release.publish.gce_image import GceImageRegistry, GceSpec, gce_labels, gce_name
from release.publish.journal import Journal
from release.publish.mirror import Conflict
from release.publish.options import Options
from release.publish.registry import Patience
from release.publish.retry import Retrier, RetrySettings
from tests.publish.cloudstub import ComputeHandler, Stub
from tests.publish.conftest import GcsServer

TARBALL = "img-1.0-gce.tar.gz"


@pytest.fixture
def compute() -> Iterator[Stub]:
    stub = Stub().start(ComputeHandler)
    try:
        yield stub
    finally:
        stub.stop()


def _registry(
    gcs: GcsServer, compute: Stub, tmp_path: Path, journal: Journal, content: bytes = b"gz"
) -> GceImageRegistry:
    rel_dir = tmp_path / "src" / "img" / "1.0"
    rel_dir.mkdir(parents=True, exist_ok=True)
    (rel_dir / TARBALL).write_bytes(content * 1000)
    artifact = next(
        f for f in local_files(layout.scan(rel_dir), "gce", journal) if f.name == TARBALL
    )
    target = GceImageTarget(
        type="gce-image", project="proj", bucket="releases", prefix="staging", family="centos-7"
    )
    return GceImageRegistry(
        target,
        artifact,
        "img",
        "1.0",
        GceSpec(guest_os_features=("VIRTIO_SCSI_MULTIQUEUE", "GVNIC")),
        journal,
        options=Options(endpoint_url=gcs.endpoint),
        retrier=Retrier(RetrySettings(attempts=2, initial_wait=0.01, max_wait=0.01)),
        patience=Patience(first=0.01, sleep=lambda _: None),
        compute_endpoint=compute.url,
    )


def test_names_and_labels_fit_gce_rules() -> None:
    assert gce_name("CentOS", "7.9.2009") == "centos-7-9-2009"
    assert gce_name("7img", "1.0") == "img-7img-1-0"
    labels = gce_labels("CentOS", "7.9.2009", "ab" * 32)
    assert labels == {
        "release-image": "centos",
        "release-version": "7-9-2009",
        "release-sha256": "ab" * 16,
    }


def test_stages_and_inserts_with_family_features_and_labels(
    gcs: GcsServer, compute: Stub, tmp_path: Path
) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        registry = _registry(gcs, compute, tmp_path, journal)
        result = registry.publish_image()
    assert result.created
    assert result.images == {"proj": "img-1-0"}
    inserts = [r for r in compute.requests if r.method == "POST"]
    assert len(inserts) == 1
    assert inserts[0].path == "/compute/v1/projects/proj/global/images"
    sha = registry.artifact.sha256
    assert inserts[0].body == {
        "name": "img-1-0",
        "description": f"sha256:{sha}",
        "family": "centos-7",
        "rawDisk": {"source": f"https://storage.googleapis.com/releases/staging/img/1.0/{TARBALL}"},
        "guestOsFeatures": [{"type": "VIRTIO_SCSI_MULTIQUEUE"}, {"type": "GVNIC"}],
        "labels": {"release-image": "img", "release-version": "1-0", "release-sha256": sha[:32]},
    }
    blob = gcs.client().bucket("releases").get_blob(f"staging/img/1.0/{TARBALL}")
    assert blob.metadata["sha256"] == sha


def test_an_existing_image_of_that_digest_means_done(
    gcs: GcsServer, compute: Stub, tmp_path: Path
) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        _registry(gcs, compute, tmp_path, journal).publish_image()
        compute.requests.clear()
        again = _registry(gcs, compute, tmp_path, journal).publish_image()
        assert not again.created
        assert [r.method for r in compute.requests] == ["GET", "GET"]  # find, then ready
        with pytest.raises(Conflict, match="img-1-0"):
            _registry(gcs, compute, tmp_path, journal, content=b"other").publish_image()
