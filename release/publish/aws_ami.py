"""AWS AMI registry: stage the disk in S3, ImportSnapshot, RegisterImage, copy, share.

Idempotent at every step: an AMI named after this release (image, version and the start of
the disk's SHA-256; tagged with all three in full) means done; the import carries a ClientToken
derived from the disk's digest, so a rerun after a crash finds the same import task instead of
starting another; copies carry ClientTokens and the same name, so a rerun finds a copy still in
progress and waits for it. Every image is awaited until `available` before launch permissions
are added. Clients and error translation: `aws_client`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from botocore.config import Config

from release.errors import InvalidInput, OperationError
from release.model.target import AwsAmiTarget, S3Target
from release.publish.aws_client import call, ec2_client
from release.publish.journal import JournalStore
from release.publish.mirror import LocalFile, PutContext
from release.publish.options import Options
from release.publish.registry import ImageResult, Patience, release_tags
from release.publish.retry import Retrier
from release.publish.s3 import S3Mirror

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.literals import ArchitectureValuesType, BootModeValuesType, VolumeTypeType
    from mypy_boto3_ec2.type_defs import (
        FilterTypeDef,
        LaunchPermissionTypeDef,
        RegisterImageRequestTypeDef,
    )

log = logging.getLogger("release.publish")

_FORMATS = {".vhd": "VHD", ".raw": "RAW", ".img": "RAW", ".vmdk": "VMDK"}
_BROKEN = ("failed", "invalid", "error")  # image states that never become available

T = TypeVar("T")


@dataclass(frozen=True)
class AmiSpec:
    """What the image is: ENA only for kernels that have it (EL7 yes, EL6 no)."""

    ena_support: bool
    boot_mode: BootModeValuesType = "legacy-bios"
    architecture: ArchitectureValuesType = "x86_64"
    volume_type: VolumeTypeType = "gp3"


def client_token(*parts: str) -> str:
    """An idempotency token (at most 64 characters) from the inputs of a step."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:64]


def disk_format(name: str) -> str:
    for suffix, fmt in _FORMATS.items():
        if name.endswith(suffix):
            return fmt
    raise InvalidInput(f"{name}: an AMI is imported from a .vhd or .raw disk")


def register_params(
    name: str, snapshot_id: str, spec: AmiSpec, tags: dict[str, str], description: str
) -> RegisterImageRequestTypeDef:
    """RegisterImage's parameters (pure, so what is sent can be checked without AWS)."""
    return {
        "Name": name,
        "Description": description,
        "Architecture": spec.architecture,
        "VirtualizationType": "hvm",
        "RootDeviceName": "/dev/sda1",
        "BlockDeviceMappings": [
            {
                "DeviceName": "/dev/sda1",
                "Ebs": {
                    "SnapshotId": snapshot_id,
                    "DeleteOnTermination": True,
                    "VolumeType": spec.volume_type,
                },
            }
        ],
        "EnaSupport": spec.ena_support,
        "BootMode": spec.boot_mode,
        "TagSpecifications": [
            {"ResourceType": "image", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ],
    }


def launch_permissions(who: tuple[str, ...]) -> list[LaunchPermissionTypeDef]:
    """ModifyImageAttribute's LaunchPermission items: account ids, or `all` for public."""
    return [{"Group": "all"} if w == "all" else {"UserId": w} for w in who]


class Ec2:
    """EC2 clients, one per region from one session; every call retried and translated."""

    def __init__(self, endpoint: str | None, retrier: Retrier) -> None:
        self.endpoint = endpoint
        self.retrier = retrier
        self._config = Config(retries={"total_max_attempts": 1, "mode": "standard"})
        self._clients: dict[str, EC2Client] = {}

    def client(self, region: str) -> EC2Client:
        # Building an EC2 client parses a big service model: one per region, one session.
        if region not in self._clients:
            self._clients[region] = ec2_client(region, self.endpoint, self._config)
        return self._clients[region]

    def call(self, region: str, op: str, fn: Callable[[EC2Client], T]) -> T:
        """`fn` on the region's client (`op` names it in messages), errors translated, under
        the retry policy."""
        client = self.client(region)
        return call(f"{op} in {region}", lambda: fn(client), self.retrier)


def find_release(ec2: Ec2, target: AwsAmiTarget, image: str, version: str) -> dict[str, str] | None:
    """The AMI of (image, version) per region of `target`, when every region has one that is
    available and carries the launch permissions asked for; else None. Read-only and cheap
    (a DescribeImages per region, plus a DescribeImageAttribute when permissions are set):
    reconcile asks this before it makes a release, so a no-op run builds nothing."""
    filters: list[FilterTypeDef] = [
        {"Name": "tag:release-image", "Values": [image]},
        {"Name": "tag:release-version", "Values": [version]},
    ]
    wanted = launch_permissions(target.launch_permissions)
    found: dict[str, str] = {}
    for region in target.regions:
        reply = ec2.call(
            region, "describe_images", lambda c: c.describe_images(Owners=["self"], Filters=filters)
        )
        ready = sorted(
            str(i["ImageId"]) for i in reply.get("Images", []) if i.get("State") == "available"
        )
        if not ready:
            return None
        if wanted:
            attr = ec2.call(
                region,
                "describe_image_attribute",
                lambda c: c.describe_image_attribute(
                    ImageId=ready[0],  # noqa: B023  (called at once, before the loop moves on)
                    Attribute="launchPermission",
                ),
            )
            if any(w not in attr.get("LaunchPermissions", []) for w in wanted):
                return None
        found[region] = ready[0]
    return found


class AmiRegistry:
    def __init__(
        self,
        target: AwsAmiTarget,
        artifact: LocalFile,
        image: str,
        version: str,
        spec: AmiSpec,
        journal: JournalStore,
        *,
        options: Options | None = None,
        retrier: Retrier | None = None,
        patience: Patience | None = None,
        ec2_endpoint: str | None = None,
    ) -> None:
        self.target = target
        self.artifact = artifact
        self.image, self.version = image, version
        self.spec = spec
        self.journal = journal
        self.options = options or Options()
        self.retrier = retrier or Retrier()
        self.patience = patience or Patience()
        self.name = f"{image}-{version}-{artifact.sha256[:12]}"
        self.tags = release_tags(image, version, artifact.sha256)
        self.ec2 = Ec2(ec2_endpoint or target.endpoint_url, self.retrier)

    # -- steps -------------------------------------------------------------------------

    def find(self, region: str) -> str | None:
        """This release's AMI in a region, in any state but deregistered: found by its name,
        which a copy has from the start (its tags may come later)."""
        filters: list[FilterTypeDef] = [{"Name": "name", "Values": [self.name]}]
        found = self.ec2.call(
            region, "describe_images", lambda c: c.describe_images(Owners=["self"], Filters=filters)
        )
        images = [i for i in found.get("Images", []) if i.get("State") != "deregistered"]
        return str(images[0]["ImageId"]) if images else None

    def stage(self) -> str:
        """Put the disk in the staging bucket (create-only, resumable, read back)."""
        staging = S3Target(
            type="s3",
            bucket=self.target.bucket,
            prefix=self.target.prefix,
            region=self.target.regions[0],
            endpoint_url=self.target.staging_endpoint_url,
        )
        mirror = S3Mirror(staging, self.image, self.version, self.options)
        present = mirror.present([self.artifact.name])
        if self.artifact.name not in present:
            mirror.put([self.artifact], PutContext(self.journal, self.retrier, False))
        back = mirror.read_back([self.artifact]).get(self.artifact.name)
        if back is None or back.sha256 != self.artifact.sha256:
            raise OperationError(f"{mirror.key(self.artifact.name)}: staged disk did not read back")
        return mirror.key(self.artifact.name)

    def import_snapshot(self, key: str) -> str:
        region = self.target.regions[0]
        task = self.ec2.call(
            region,
            "import_snapshot",
            lambda c: c.import_snapshot(
                ClientToken=client_token("import-snapshot", self.name, self.artifact.sha256),
                Description=f"{self.name} sha256:{self.artifact.sha256}",
                DiskContainer={
                    "Description": self.artifact.name,
                    "Format": disk_format(self.artifact.name),
                    "UserBucket": {"S3Bucket": self.target.bucket, "S3Key": key},
                },
                TagSpecifications=[
                    {
                        "ResourceType": "import-snapshot-task",
                        "Tags": [{"Key": k, "Value": v} for k, v in self.tags.items()],
                    }
                ],
            ),
        )
        task_id = str(task["ImportTaskId"])
        return self.patience.wait_for(
            f"import of {self.name} ({task_id})", lambda: self._snapshot_done(region, task_id)
        )

    def _snapshot_done(self, region: str, task_id: str) -> str | None:
        tasks = self.ec2.call(
            region,
            "describe_import_snapshot_tasks",
            lambda c: c.describe_import_snapshot_tasks(ImportTaskIds=[task_id]),
        )
        detail = tasks["ImportSnapshotTasks"][0]["SnapshotTaskDetail"]
        status = detail.get("Status", "")
        if status == "completed":
            return str(detail["SnapshotId"])
        if status in ("deleted", "deleting") or "error" in status:
            raise OperationError(
                f"import of {self.name} failed: {status} {detail.get('StatusMessage', '')}"
            )
        log.info(
            "import of %s: %s %s%% %s",
            self.name,
            status,
            detail.get("Progress", "?"),
            detail.get("StatusMessage", ""),
        )
        return None

    def register(self, snapshot_id: str) -> str:
        params = register_params(
            self.name, snapshot_id, self.spec, self.tags, f"sha256:{self.artifact.sha256}"
        )
        primary = self.target.regions[0]
        try:
            result = self.ec2.call(primary, "register_image", lambda c: c.register_image(**params))
        except OperationError as exc:
            # AMI names are unique per region: another run registered this release meanwhile.
            found = self.find(primary) if "InvalidAMIName.Duplicate" in str(exc) else None
            if found is None:
                raise
            log.info("%s: registered by another run as %s", self.name, found)
            return found
        return str(result["ImageId"])

    def copy(self, image_id: str, region: str) -> str:
        result = self.ec2.call(
            region,
            "copy_image",
            lambda c: c.copy_image(
                SourceImageId=image_id,
                SourceRegion=self.target.regions[0],
                Name=self.name,
                Description=f"sha256:{self.artifact.sha256}",
                ClientToken=client_token("copy-image", image_id, region),
                CopyImageTags=True,
            ),
        )
        return str(result["ImageId"])

    def await_available(self, image_id: str, region: str) -> None:
        """Wait until the AMI is `available` (a copy takes minutes to an hour); fail on a
        state it never leaves."""
        self.patience.wait_for(
            f"AMI {image_id} ({self.name}) in {region}", lambda: self._available(image_id, region)
        )

    def _available(self, image_id: str, region: str) -> str | None:
        found = self.ec2.call(
            region, "describe_images", lambda c: c.describe_images(ImageIds=[image_id])
        )
        images = found.get("Images", [])
        state = str(images[0].get("State", "")) if images else "not listed yet"
        if state == "available":
            return image_id
        if state in _BROKEN:
            reason = images[0].get("StateReason", {}).get("Message", "no reason given")
            raise OperationError(
                f"AMI {image_id} ({self.name}) in {region} is {state}: {reason};"
                " deregister it and rerun"
            )
        log.info("AMI %s (%s) in %s: %s", image_id, self.name, region, state)
        return None

    def share(self, image_id: str, region: str) -> None:
        if not self.target.launch_permissions:
            return
        self.ec2.call(
            region,
            "modify_image_attribute",
            lambda c: c.modify_image_attribute(
                ImageId=image_id,
                LaunchPermission={"Add": launch_permissions(self.target.launch_permissions)},
            ),
        )

    def publish_image(self) -> ImageResult:
        """Import and register in the first region, copy to the others, wait until every
        image is available, then share them; each step found done is skipped."""
        primary = self.target.regions[0]
        created = False
        source = self.find(primary)
        if source is None:
            source = self.register(self.import_snapshot(self.stage()))
            created = True
        self.await_available(source, primary)  # a copy needs an available source
        images = {primary: source}
        for region in self.target.regions[1:]:
            found = self.find(region)
            if found is None:
                found = self.copy(source, region)
                created = True
            images[region] = found
        for region in self.target.regions[1:]:
            self.await_available(images[region], region)
        for region, image_id in images.items():
            self.share(image_id, region)
        return ImageResult(self.name, images, created)
