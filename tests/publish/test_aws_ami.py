"""The AMI registry: S3 staging against moto, EC2 calls against a recording stub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from release.errors import OperationError
from release.model.target import AwsAmiTarget
from release.publish import layout
from release.publish.aws_ami import (
    AmiRegistry,
    AmiSpec,
    client_token,
    disk_format,
    find_release,
)
from release.publish.engine import local_files
from release.publish.journal import Journal
from release.publish.options import Options
from release.publish.registry import Patience, ena_support
from release.publish.retry import Retrier, RetrySettings
from tests.publish.cloudstub import Ec2Handler, Stub
from tests.publish.conftest import S3Server

VHD = "img-1.0-base.vhd"


@pytest.fixture
def ec2() -> Iterator[Stub]:
    stub = Stub().start(Ec2Handler)
    try:
        yield stub
    finally:
        stub.stop()


def _registry(s3: S3Server, ec2: Stub, tmp_path: Path, el: int, journal: Journal) -> AmiRegistry:
    rel_dir = tmp_path / "src" / "img" / "1.0"
    rel_dir.mkdir(parents=True, exist_ok=True)
    if not (rel_dir / VHD).exists():
        (rel_dir / VHD).write_bytes(b"disk" * 4096)
    release = layout.scan(rel_dir)
    artifact = next(f for f in local_files(release, "ami", journal) if f.name == VHD)
    target = AwsAmiTarget(
        type="aws-ami",
        regions=("us-east-1", "eu-west-1"),
        bucket="releases",
        prefix="staging",
        launch_permissions=("123456789012",),
    )
    return AmiRegistry(
        target,
        artifact,
        "img",
        "1.0",
        AmiSpec(ena_support=ena_support(el)),
        journal,
        options=Options(endpoint_url=s3.endpoint),
        retrier=Retrier(RetrySettings(attempts=2, initial_wait=0.01, max_wait=0.01)),
        patience=Patience(first=0.01, sleep=lambda _: None),
        ec2_endpoint=ec2.url,
    )


def test_pure_helpers() -> None:
    assert disk_format("a.vhd") == "VHD"
    assert disk_format("a.raw") == "RAW"
    assert len(client_token("import", "x" * 500)) == 64
    assert client_token("a", "b") != client_token("ab", "")
    assert ena_support(7) and not ena_support(6)


def test_imports_registers_copies_and_shares(s3: S3Server, ec2: Stub, tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        registry = _registry(s3, ec2, tmp_path, 7, journal)
        result = registry.publish_image()
    assert result.created
    assert ec2.actions() == [
        "DescribeImages",  # by name: not there
        "ImportSnapshot",
        "DescribeImportSnapshotTasks",
        "DescribeImportSnapshotTasks",
        "RegisterImage",
        "DescribeImages",  # by id: pending
        "DescribeImages",  # available: it can be copied
        "DescribeImages",  # by name in eu-west-1: not there
        "CopyImage",
        "DescribeImages",  # the copy: pending
        "DescribeImages",  # available: now it is shared
        "ModifyImageAttribute",
        "ModifyImageAttribute",
    ]
    waits = [r for r in ec2.action("DescribeImages") if "ImageId.1" in r.params]
    assert [(r.region, r.params["ImageId.1"]) for r in waits] == [
        ("us-east-1", result.images["us-east-1"]),
        ("us-east-1", result.images["us-east-1"]),
        ("eu-west-1", result.images["eu-west-1"]),
        ("eu-west-1", result.images["eu-west-1"]),
    ]
    sha = registry.artifact.sha256
    imp = ec2.action("ImportSnapshot")[0].params
    assert imp["ClientToken"] == client_token("import-snapshot", registry.name, sha)
    assert imp["DiskContainer.Format"] == "VHD"
    assert imp["DiskContainer.UserBucket.S3Bucket"] == "releases"
    assert imp["DiskContainer.UserBucket.S3Key"] == f"staging/img/1.0/{VHD}"
    reg = ec2.action("RegisterImage")[0]
    assert reg.region == "us-east-1"
    assert {k: v for k, v in reg.params.items() if not k.startswith("TagSpecification")} == {
        "Action": "RegisterImage",
        "Version": reg.params["Version"],
        "Name": f"img-1.0-{sha[:12]}",
        "Description": f"sha256:{sha}",
        "Architecture": "x86_64",
        "VirtualizationType": "hvm",
        "RootDeviceName": "/dev/sda1",
        "BlockDeviceMapping.1.DeviceName": "/dev/sda1",
        "BlockDeviceMapping.1.Ebs.SnapshotId": "snap-1",
        "BlockDeviceMapping.1.Ebs.DeleteOnTermination": "true",
        "BlockDeviceMapping.1.Ebs.VolumeType": "gp3",
        "EnaSupport": "true",
        "BootMode": "legacy-bios",
    }
    tags = {
        reg.params[f"TagSpecification.1.Tag.{i}.Key"]: reg.params[
            f"TagSpecification.1.Tag.{i}.Value"
        ]
        for i in (1, 2, 3)
    }
    assert tags == {"release-image": "img", "release-version": "1.0", "release-sha256": sha}
    copy = ec2.action("CopyImage")[0]
    assert copy.region == "eu-west-1"
    assert copy.params["SourceRegion"] == "us-east-1"
    assert copy.params["ClientToken"] == client_token(
        "copy-image", result.images["us-east-1"], "eu-west-1"
    )
    share = ec2.action("ModifyImageAttribute")
    assert [
        (r.region, r.params["ImageId"], r.params["LaunchPermission.Add.1.UserId"]) for r in share
    ] == [(region, image_id, "123456789012") for region, image_id in result.images.items()]
    staged = boto3.client("s3", endpoint_url=s3.endpoint).head_object(
        Bucket="releases", Key=f"staging/img/1.0/{VHD}"
    )
    assert staged["Metadata"]["sha256"] == sha


def test_el6_images_are_registered_without_ena(s3: S3Server, ec2: Stub, tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        _registry(s3, ec2, tmp_path, 6, journal).publish_image()
    assert ec2.action("RegisterImage")[0].params["EnaSupport"] == "false"


def test_an_image_tagged_with_the_release_means_done(
    s3: S3Server, ec2: Stub, tmp_path: Path
) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        first = _registry(s3, ec2, tmp_path, 7, journal).publish_image()
        ec2.requests.clear()
        again = _registry(s3, ec2, tmp_path, 7, journal).publish_image()
    assert not again.created
    assert again.images == first.images
    assert "ImportSnapshot" not in ec2.actions()
    assert "RegisterImage" not in ec2.actions()
    assert "CopyImage" not in ec2.actions()


class Crash(Exception):
    """The process dying mid-run."""


def test_a_rerun_after_a_crash_waits_for_the_copy_it_made(
    s3: S3Server, ec2: Stub, tmp_path: Path
) -> None:
    def die_once_copying(_: float) -> None:
        if ec2.action("CopyImage"):
            raise Crash

    ec2.polls_before_available = 3
    with Journal(tmp_path / "j.sqlite") as journal:
        registry = _registry(s3, ec2, tmp_path, 7, journal)
        registry.patience = Patience(first=0.01, sleep=die_once_copying)
        with pytest.raises(Crash):
            registry.publish_image()
        assert not ec2.action("ModifyImageAttribute")  # not shared before it is available
        ec2.requests.clear()
        result = _registry(s3, ec2, tmp_path, 7, journal).publish_image()
    assert not result.created  # everything was found: the import, the AMI and its copy
    for create in ("ImportSnapshot", "RegisterImage", "CopyImage"):
        assert not ec2.action(create)
    finds = [r for r in ec2.action("DescribeImages") if "Filter.1.Name" in r.params]
    assert {(r.params["Filter.1.Name"], r.params["Filter.1.Value.1"]) for r in finds} == {
        ("name", registry.name)
    }
    waits = [r.params["ImageId.1"] for r in ec2.action("DescribeImages") if "ImageId.1" in r.params]
    assert waits[-1] == result.images["eu-west-1"]
    assert len(ec2.images) == 2
    assert len(ec2.action("ModifyImageAttribute")) == 2


def test_a_failed_copy_stops_before_sharing(s3: S3Server, ec2: Stub, tmp_path: Path) -> None:
    ec2.broken_copies["eu-west-1"] = "failed"
    with Journal(tmp_path / "j.sqlite") as journal:
        registry = _registry(s3, ec2, tmp_path, 7, journal)
        with pytest.raises(
            OperationError, match=r"in eu-west-1 is failed: copy failed.*deregister"
        ):
            registry.publish_image()
    assert not ec2.action("ModifyImageAttribute")


def test_find_release_needs_every_region_available_and_shared(
    s3: S3Server, ec2: Stub, tmp_path: Path
) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        registry = _registry(s3, ec2, tmp_path, 7, journal)
        assert find_release(registry.ec2, registry.target, "img", "1.0") is None
        result = registry.publish_image()
    ec2.requests.clear()
    assert find_release(registry.ec2, registry.target, "img", "1.0") == result.images
    assert ec2.actions() == ["DescribeImages", "DescribeImageAttribute"] * 2  # read-only
    assert find_release(registry.ec2, registry.target, "img", "1.1") is None
    ec2.images[result.images["eu-west-1"]]["launch"].clear()  # a crash before sharing
    assert find_release(registry.ec2, registry.target, "img", "1.0") is None


def test_a_run_racing_another_takes_the_ami_the_other_registered(
    s3: S3Server, ec2: Stub, tmp_path: Path
) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        other = _registry(s3, ec2, tmp_path, 7, journal).publish_image()
        ours = _registry(s3, ec2, tmp_path, 7, journal)
        real_find, calls = ours.find, []

        def find(region: str) -> str | None:  # our first lookup ran before the other registered
            calls.append(region)
            return None if len(calls) == 1 else real_find(region)

        ours.find = find  # type: ignore[method-assign]
        result = ours.publish_image()
    assert [r.params["Name"] for r in ec2.action("RegisterImage")] == [ours.name, ours.name]
    assert result.images == other.images
    assert len(ec2.images) == 2  # one AMI per region, no duplicate


def test_another_register_failure_is_not_taken_for_a_race(
    s3: S3Server, ec2: Stub, tmp_path: Path
) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        registry = _registry(s3, ec2, tmp_path, 7, journal)
        ec2.images["ami-other"] = {
            "region": "us-east-1",
            "tags": {},
            "name": registry.name,
            "state": "deregistered",
            "polls": 0,
            "end": "deregistered",
            "launch": [],
        }
        with pytest.raises(OperationError, match=r"InvalidAMIName\.Duplicate"):
            registry.publish_image()
