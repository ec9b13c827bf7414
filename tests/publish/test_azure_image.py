"""The Azure image registry: the page blob on Azurite, Compute (managed images, gallery
versions) on a recording stub of Resource Manager; what was sent is asserted."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from release.errors import InvalidInput, OperationError
from release.model.target import AzureImageTarget
from release.publish.azure_client import CONNECTION_STRING, blob_client, storage_credential
from release.publish.azure_image import (
    AzureImageRegistry,
    exclude_from_latest,
    find_release,
)
from release.publish.journal import Journal
from release.publish.mirror import Conflict
from release.publish.registry import Patience
from release.publish.retry import Retrier, RetrySettings
from tests.faultproxy import Fault, FaultProxy
from tests.publish.armstub import ACCOUNT_ID, ArmStub, FakeCredential
from tests.publish.azurite import KEY, Azurite, azurite, local, make_vhd

MiB = 1 << 20
QUICK = Patience(first=0.01, sleep=lambda _: None)
FAST = Retrier(RetrySettings(attempts=3, initial_wait=0.01, max_wait=0.01))
RG = "/subscriptions/sub-1/resourceGroups/images/providers/Microsoft.Compute"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    with azurite(tmp_path_factory.mktemp("azurite")) as found:
        yield found


@pytest.fixture
def arm() -> Iterator[ArmStub]:
    stub = ArmStub().start()
    try:
        yield stub
    finally:
        stub.stop()


@pytest.fixture
def container(
    server: Azurite, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> str:
    monkeypatch.setenv(CONNECTION_STRING, server.connection_string())
    name = "c" + str(abs(hash(request.node.name)))[:20]
    BlobServiceClient(server.account_url, credential=storage_credential()).create_container(name)
    return name


def _target(server: Azurite, arm: ArmStub, container: str, **kw: object) -> AzureImageTarget:
    return AzureImageTarget.model_validate(
        {
            "type": "azure-image",
            "account_url": server.account_url,
            "container": container,
            "prefix": "staging",
            "subscription_id": "sub-1",
            "resource_group": "images",
            "location": "westeurope",
            "endpoint_url": arm.url,
            **kw,
        }
    )


def _registry(target: AzureImageTarget, disk: Path, journal: Journal) -> AzureImageRegistry:
    return AzureImageRegistry(
        target,
        local(disk),
        "img",
        "1.0.0",
        journal,
        retrier=FAST,
        patience=QUICK,
        credential=FakeCredential(),
    )


def _disk(tmp_path: Path, seed: int = 7) -> Path:
    disk = tmp_path / "img-1.0.0-azure.vhd"
    make_vhd(disk, 16 * MiB, [(0, MiB), (9 * MiB, 512)], seed=seed)
    return disk


def test_managed_image_from_the_page_blob_then_a_rerun_only_looks(
    server: Azurite,
    arm: ArmStub,
    container: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    disk = _disk(tmp_path)
    target = _target(server, arm, container)
    sha = local(disk).sha256
    with Journal(tmp_path / "j.sqlite") as journal:
        result = _registry(target, disk, journal).publish_image()
        assert journal.state(local(disk).step) == "done"
    assert result.created and result.name == "img-1.0.0"
    assert result.images == {"westeurope": f"{RG}/images/img-1.0.0"}
    blob = blob_client(server.account_url, container, f"staging/img/1.0.0/{disk.name}")
    assert blob.download_blob().readall() == disk.read_bytes()
    [put] = arm.sent("PUT")
    assert put.path == f"{RG}/images/img-1.0.0"
    assert put.bearer == "Bearer fake-token"
    assert put.body == {
        "location": "westeurope",
        "tags": {"release-image": "img", "release-version": "1.0.0", "release-sha256": sha},
        "properties": {
            "hyperVGeneration": "V1",
            "storageProfile": {
                "osDisk": {
                    "osType": "Linux",
                    "osState": "Generalized",
                    "blobUri": blob.url,
                    "caching": "ReadWrite",
                }
            },
        },
    }
    assert len(arm.sent("GET")) >= 3  # absent, Creating, Succeeded
    assert KEY not in caplog.text and KEY[:20] not in caplog.text  # the account key never shows

    arm.requests.clear()
    etag = blob.get_blob_properties().etag
    with Journal(tmp_path / "j.sqlite") as journal:
        again = _registry(target, disk, journal).publish_image()
    assert not again.created and again.images == result.images
    assert {r.method for r in arm.requests} == {"GET"}
    assert blob.get_blob_properties().etag == etag  # the blob was not touched


def test_gallery_version_replicated_and_a_rollback_excludes_it_from_latest(
    server: Azurite, arm: ArmStub, container: str, tmp_path: Path
) -> None:
    disk = _disk(tmp_path)
    gallery = {
        "name": "gal",
        "image": "centos7",
        "regions": ["northeurope", "westeurope", "eastus"],
        "storage_account_id": ACCOUNT_ID,
    }
    target = _target(server, arm, container, gallery=gallery)
    with Journal(tmp_path / "j.sqlite") as journal:
        result = _registry(target, disk, journal).publish_image()
    version = f"{RG}/galleries/gal/images/centos7/versions/1.0.0"
    assert result.images == {"westeurope": version}
    [put] = arm.sent("PUT")
    assert put.path == version
    blob = blob_client(server.account_url, container, f"staging/img/1.0.0/{disk.name}")
    assert put.body["properties"] == {
        "publishingProfile": {
            "targetRegions": [  # the location first, each region once
                {"name": "westeurope", "regionalReplicaCount": 1},
                {"name": "northeurope", "regionalReplicaCount": 1},
                {"name": "eastus", "regionalReplicaCount": 1},
            ],
            "excludeFromLatest": False,
        },
        "storageProfile": {
            "osDiskImage": {"source": {"uri": blob.url, "storageAccountId": ACCOUNT_ID}}
        },
    }
    fake = FakeCredential()
    assert find_release(target, "img", "1.0.0", fake) == {"westeurope": version}
    assert exclude_from_latest(target, "img", "1.0.0", fake) == "1.0.0"
    assert arm.sent("PUT")[-1].body["properties"]["publishingProfile"]["excludeFromLatest"]
    assert find_release(target, "img", "1.0.0", fake) is None  # reconcile will roll forward
    with Journal(tmp_path / "j.sqlite") as journal:
        again = _registry(target, disk, journal).publish_image()
    assert not again.created
    last = arm.sent("PUT")[-1].body["properties"]["publishingProfile"]
    assert last["excludeFromLatest"] is False
    assert len(arm.sent("PUT")) == 3  # create, exclude, include: nothing made twice


def test_an_image_made_from_another_disk_is_refused(
    server: Azurite, arm: ArmStub, container: str, tmp_path: Path
) -> None:
    target = _target(server, arm, container)
    with Journal(tmp_path / "j.sqlite") as journal:
        _registry(target, _disk(tmp_path), journal).publish_image()
        other = tmp_path / "other"
        other.mkdir()
        with pytest.raises(Conflict, match="made from another disk"):
            _registry(target, _disk(other, seed=9), journal).publish_image()
    assert len(arm.sent("PUT")) == 1


def test_a_failed_creation_is_an_error(
    server: Azurite, arm: ArmStub, container: str, tmp_path: Path
) -> None:
    arm.end_state = "Failed"
    with Journal(tmp_path / "j.sqlite") as journal, pytest.raises(OperationError, match="Failed"):
        _registry(_target(server, arm, container), _disk(tmp_path), journal).publish_image()


def test_gallery_versions_must_be_three_integers(
    server: Azurite, arm: ArmStub, container: str, tmp_path: Path
) -> None:
    gallery = {"name": "g", "image": "i", "storage_account_id": ACCOUNT_ID}
    target = _target(server, arm, container, gallery=gallery)
    with Journal(tmp_path / "j.sqlite") as journal, pytest.raises(InvalidInput, match="MAJOR"):
        AzureImageRegistry(target, local(_disk(tmp_path)), "img", "7.9-beta", journal)
    assert arm.requests == []


def test_compute_faults_are_retried_and_a_lost_answer_makes_one_image(
    server: Azurite, arm: ArmStub, container: str, tmp_path: Path
) -> None:
    host, port = arm.url.removeprefix("http://").split(":")
    with FaultProxy((host, int(port))) as proxy:
        proxy.add(Fault("503", match="GET /subscriptions", count=2))
        proxy.add(Fault("drop", match="PUT /subscriptions"))  # it landed; the answer did not
        proxy.add(Fault("reset", match="GET /subscriptions", skip=1))
        target = _target(server, arm, container, endpoint_url=proxy.url)
        with Journal(tmp_path / "j.sqlite") as journal:
            result = _registry(target, _disk(tmp_path), journal).publish_image()
        assert proxy.pending() == []
    assert result.created
    assert len(arm.sent("PUT")) == 2  # the same PUT again: create_or_update is idempotent
    assert list(arm.resources) == [f"{RG}/images/img-1.0.0"]
    assert arm.sent("PUT")[0].body == arm.sent("PUT")[1].body
