"""reconcile feeds a channel's aws-ami and gce-image targets: S3 staging on moto, GCS staging
on gcp-storage-emulator, EC2 and GCE Compute on recording stubs (no emulator exists for
image import), so the tests assert exactly what was sent."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from release.channels import index as idx
from release.channels.reconcile import ReconcileResult, reconcile
from release.channels.registries import artifact_for, publish_image
from release.errors import OperationError
from release.integrity.signing import SigningConfig
from release.model.image import ImageDefinition
from release.model.target import AwsAmiTarget, GceImageTarget
from release.pipeline import Workspace
from release.publish.aws_ami import client_token
from release.publish.journal import Journal
from release.publish.registry import Patience
from tests.channels.kit import IMAGE, ConfigKit, image_yaml, make_config, sealed_release
from tests.conftest import git
from tests.gitops import merge_feature
from tests.integrity.gpgkit import Keys
from tests.publish.cloudstub import ComputeHandler, Ec2Handler, Stub
from tests.publish.conftest import GcsServer, S3Server

QUICK = Patience(first=0.01, sleep=lambda _: None)
VARIANTS = ("openstack", "aws", "gce")
CREATES = ("ImportSnapshot", "RegisterImage", "CopyImage", "ModifyImageAttribute")


@dataclass
class Clouds:
    ec2: Stub
    compute: Stub
    s3: S3Server
    gcs: GcsServer


@pytest.fixture
def clouds(s3: S3Server, gcs: GcsServer) -> Iterator[Clouds]:
    ec2, compute = Stub().start(Ec2Handler), Stub().start(ComputeHandler)
    try:
        yield Clouds(ec2, compute, s3, gcs)
    finally:
        ec2.stop()
        compute.stop()


def _config(tmp_path: Path, keys: Keys, clouds: Clouds) -> tuple[ConfigKit, Workspace]:
    """fx-testing goes to the mirror, an AMI in two regions and a GCE image family."""
    kit = make_config(tmp_path, keys)
    (kit.clone / "targets/ami.yaml").write_text(
        "type: aws-ami\nregions: [us-east-1, eu-west-1]\nbucket: releases\nprefix: staging\n"
        f"launch_permissions: ['123456789012']\nendpoint_url: {clouds.ec2.url}\n"
        f"staging_endpoint_url: {clouds.s3.endpoint}\n"
    )
    (kit.clone / "targets/gce.yaml").write_text(
        "type: gce-image\nproject: proj\nbucket: releases\nprefix: staging\nfamily: fx\n"
        f"endpoint_url: {clouds.compute.url}\nstaging_endpoint_url: {clouds.gcs.endpoint}\n"
    )
    image = kit.clone / f"images/{IMAGE}.yaml"
    variants = "  openstack: {}\n  aws: {formats: [vhd]}\n  gce: {formats: [gce]}\n"
    image.write_text(image.read_text().replace("  openstack: {}\n", variants))
    channel = kit.clone / "channels/fx-testing.yaml"
    channel.write_text(channel.read_text().replace("[mirror]", "[mirror, ami, gce]"))
    git(kit.clone, "add", "-A")
    git(kit.clone, "commit", "-qm", "fx-testing also goes to an AMI and a GCE image family")
    work = Workspace(tmp_path / "work")
    for version in ("1.0.0", "1.1.0"):
        sealed_release(work, keys, version, variants=VARIANTS)
    return kit, work


def _targets(result: ReconcileResult, channel: str = "fx-testing") -> dict[str, dict[str, object]]:
    data = result.to_dict()["channels"]
    assert isinstance(data, list)
    found = next(c for c in data if c["channel"] == channel)
    return {t["target"]: t for t in found["targets"]}


def _sha(work: Workspace, name: str) -> str:
    return hashlib.sha256((work.release_dir(IMAGE, "1.0.0") / name).read_bytes()).hexdigest()


def test_publishes_the_ami_and_gce_image_then_a_rerun_creates_nothing(
    keys: Keys, clouds: Clouds, tmp_path: Path
) -> None:
    kit, work = _config(tmp_path, keys, clouds)
    ec2, compute = clouds.ec2, clouds.compute
    result = reconcile(kit.clone, workspace=work, signing=kit.signing, patience=QUICK)
    assert result.ok, result.to_dict()
    targets = _targets(result)
    assert [targets[t]["status"] for t in ("mirror", "ami", "gce")] == ["published"] * 3
    amis = targets["ami"]["images"]
    assert amis == {"us-east-1": "ami-00000001", "eu-west-1": "ami-00000002"}
    assert targets["gce"]["images"] == {"proj": "fixture-el7-1-0-0"}
    json.dumps(result.to_dict())  # what --json prints

    vhd, tarball = f"{IMAGE}-1.0.0-aws.vhd", f"{IMAGE}-1.0.0-gce.tar.gz"
    sha = _sha(work, vhd)
    name = f"{IMAGE}-1.0.0-{sha[:12]}"
    imported = ec2.action("ImportSnapshot")
    assert len(imported) == 1 and imported[0].region == "us-east-1"
    assert {k: v for k, v in imported[0].params.items() if k.startswith(("Client", "Disk"))} == {
        "ClientToken": client_token("import-snapshot", name, sha),
        "DiskContainer.Description": vhd,
        "DiskContainer.Format": "VHD",
        "DiskContainer.UserBucket.S3Bucket": "releases",
        "DiskContainer.UserBucket.S3Key": f"staging/{IMAGE}/1.0.0/{vhd}",
    }
    registered = ec2.action("RegisterImage")
    assert len(registered) == 1 and registered[0].region == "us-east-1"
    assert registered[0].params["Name"] == name
    assert registered[0].params["EnaSupport"] == "true"  # EL7, from the image definition
    assert registered[0].params["BlockDeviceMapping.1.Ebs.SnapshotId"] == "snap-1"
    tags = {
        registered[0].params[f"TagSpecification.1.Tag.{i}.Key"]: registered[0].params[
            f"TagSpecification.1.Tag.{i}.Value"
        ]
        for i in (1, 2, 3)
    }
    assert tags == {"release-image": IMAGE, "release-version": "1.0.0", "release-sha256": sha}
    copied = ec2.action("CopyImage")
    assert [(r.region, r.params["SourceImageId"], r.params["SourceRegion"]) for r in copied] == [
        ("eu-west-1", amis["us-east-1"], "us-east-1")
    ]
    # Each image awaited until available, then shared: the copy's waits come before any share.
    sent = [
        (r.params["Action"], r.region, r.params.get("ImageId.1") or r.params.get("ImageId"))
        for r in ec2.requests
        if r.params["Action"] in ("DescribeImages", "ModifyImageAttribute", "CopyImage")
        and ("ImageId.1" in r.params or "ImageId" in r.params or r.params["Action"] == "CopyImage")
    ]
    assert sent == [
        ("DescribeImages", "us-east-1", amis["us-east-1"]),  # pending
        ("DescribeImages", "us-east-1", amis["us-east-1"]),  # available
        ("CopyImage", "eu-west-1", None),
        ("DescribeImages", "eu-west-1", amis["eu-west-1"]),  # pending
        ("DescribeImages", "eu-west-1", amis["eu-west-1"]),  # available
        ("ModifyImageAttribute", "us-east-1", amis["us-east-1"]),
        ("ModifyImageAttribute", "eu-west-1", amis["eu-west-1"]),
    ]
    shares = ec2.action("ModifyImageAttribute")
    assert {r.params["LaunchPermission.Add.1.UserId"] for r in shares} == {"123456789012"}

    inserts = [r for r in compute.requests if r.method == "POST"]
    assert [r.path for r in inserts] == ["/compute/v1/projects/proj/global/images"]
    assert inserts[0].body["family"] == "fx"
    assert inserts[0].body["rawDisk"] == {
        "source": f"https://storage.googleapis.com/releases/staging/{IMAGE}/1.0.0/{tarball}"
    }
    assert inserts[0].body["description"] == f"sha256:{_sha(work, tarball)}"
    staged = clouds.gcs.client().bucket("releases").get_blob(f"staging/{IMAGE}/1.0.0/{tarball}")
    assert staged.metadata["sha256"] == _sha(work, tarball)
    index = idx.parse_index((kit.clone / "mirror/channels/fx-testing.json").read_bytes())
    assert (index.current.version, index.serial) == ("1.0.0", 1)

    ec2.requests.clear()
    compute.requests.clear()
    again = reconcile(kit.clone, workspace=work, signing=SigningConfig(key_env=None))
    assert again.noop and again.ok  # no signing key, no release made: only lookups
    assert ec2.actions() == ["DescribeImages", "DescribeImageAttribute"] * 2
    assert [r.method for r in compute.requests] == ["GET"]
    assert _targets(again)["ami"]["images"] == amis


def test_a_registry_failure_exits_1_and_keeps_the_index_on_the_previous_release(
    keys: Keys, clouds: Clouds, aws_env: dict[str, str], tmp_path: Path
) -> None:
    kit, work = _config(tmp_path, keys, clouds)
    assert reconcile(kit.clone, workspace=work, signing=kit.signing, patience=QUICK).ok
    merge_feature(kit.clone, "bump", [(f"images/{IMAGE}.yaml", '"1.0.0"', '"1.1.0"')])
    clouds.ec2.import_polls_before_done = 0
    clouds.ec2.import_error = "ClientError: Disk validation failed"

    argv = [sys.executable, "-m", "tests.channels.cli_entry", "publish", "--channel",
            "fx-testing", "--repo", str(kit.clone), "--work", str(work.root), "--gnupghome",
            str(keys.home), "--fingerprint", keys.fpr["good"], "--json"]  # fmt: skip
    run = subprocess.run(argv, capture_output=True, text=True, env=aws_env, check=False)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert "fx-testing on ami: import of fixture-el7-1.1.0-" in run.stderr
    assert "failed: deleted ClientError: Disk validation failed" in run.stderr
    targets = {t["target"]: t for t in json.loads(run.stdout)["channels"][0]["targets"]}
    assert targets["ami"]["status"] == "failed"
    assert targets["mirror"]["status"] == "failed"
    assert "registry target ami failed" in targets["mirror"]["detail"]
    mirror = kit.clone / "mirror"
    index = idx.parse_index((mirror / "channels/fx-testing.json").read_bytes())
    assert (index.current.version, index.serial) == ("1.0.0", 1)
    assert not (mirror / IMAGE / "1.1.0").exists()
    assert len(clouds.ec2.action("RegisterImage")) == 1  # 1.0.0's only


def _image(el: int, variants: str, formats: str = "[qcow2]") -> ImageDefinition:
    text = image_yaml("1.0.0").replace("el: 7", f"el: {el}")
    text = text.replace("  openstack: {}\n", variants).replace(
        "formats: [qcow2]", f"formats: {formats}"
    )
    return ImageDefinition.model_validate(YAML(typ="safe").load(text))


AMI = AwsAmiTarget(type="aws-ami", regions=("us-east-1",), bucket="releases")
GCE = GceImageTarget(type="gce-image", project="proj", bucket="releases")


def test_the_artifact_a_registry_is_fed_from() -> None:
    both = _image(7, "  aws: {}\n  other: {stack: aws, formats: [raw]}\n", "[vhd, raw]")
    assert artifact_for(both, AMI) == f"{IMAGE}-1.0.0-aws.vhd"  # the variant named aws
    raw_only = _image(7, "  ec2: {stack: aws, formats: [raw, qcow2]}\n")
    assert artifact_for(raw_only, AMI) == f"{IMAGE}-1.0.0-ec2.raw"
    assert artifact_for(_image(7, "  gce: {formats: [gce]}\n"), GCE) == f"{IMAGE}-1.0.0-gce.tar.gz"
    with pytest.raises(OperationError, match="needs a `gce` variant"):
        artifact_for(raw_only, GCE)
    with pytest.raises(OperationError, match=r"takes vhd or raw, but .* produces qcow2"):
        artifact_for(_image(7, "  aws: {}\n"), AMI)


def test_an_el6_image_is_registered_without_ena(keys: Keys, clouds: Clouds, tmp_path: Path) -> None:
    work = Workspace(tmp_path / "work")
    directory = sealed_release(work, keys, "1.0.0", variants=("aws",))
    target = AMI.model_copy(
        update={"endpoint_url": clouds.ec2.url, "staging_endpoint_url": clouds.s3.endpoint}
    )
    el6 = _image(6, "  aws: {formats: [vhd]}\n")
    with Journal(tmp_path / "j.sqlite") as journal:
        found = publish_image(target, directory, el6, journal, patience=QUICK)
    assert found.created and list(found.images) == ["us-east-1"]
    assert [r.params["EnaSupport"] for r in clouds.ec2.action("RegisterImage")] == ["false"]
