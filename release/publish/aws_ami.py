"""AWS AMI registry: stage the disk in S3, ImportSnapshot, RegisterImage, copy, share.

Idempotent at every step: an AMI tagged with this release (name, version and SHA-256 of the
disk) means done; the import carries a ClientToken derived from the disk's digest, so a
rerun after a crash finds the same import task instead of starting another; copies carry
ClientTokens too. boto3 is imported here only.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from botocore.config import Config

from release.errors import InvalidInput, OperationError
from release.model.target import AwsAmiTarget, S3Target
from release.publish.journal import JournalStore
from release.publish.mirror import LocalFile, PutContext
from release.publish.registry import ImageResult, Patience, release_tags
from release.publish.retry import Retrier
from release.publish.s3 import S3Mirror, shared_session, translate
from release.publish.targets import Options

log = logging.getLogger("release.publish")

_FORMATS = {".vhd": "VHD", ".raw": "RAW", ".img": "RAW", ".vmdk": "VMDK"}


@dataclass(frozen=True)
class AmiSpec:
    """What the image is: ENA only for kernels that have it (EL7 yes, EL6 no)."""

    ena_support: bool
    boot_mode: str = "legacy-bios"
    architecture: str = "x86_64"
    volume_type: str = "gp3"


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
) -> dict[str, Any]:
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
        self._ec2_endpoint = ec2_endpoint or target.endpoint_url
        self._config = Config(retries={"total_max_attempts": 1, "mode": "standard"})
        self._clients: dict[str, Any] = {}

    def _ec2(self, region: str) -> Any:
        # Building an EC2 client parses a big service model: one per region, one session.
        if region not in self._clients:
            self._clients[region] = shared_session().client(
                "ec2", region_name=region, endpoint_url=self._ec2_endpoint, config=self._config
            )
        return self._clients[region]

    def _call(self, client: Any, op: str, **kwargs: Any) -> Any:
        what = f"{op} in {client.meta.region_name}"

        def once() -> Any:
            try:
                return getattr(client, op)(**kwargs)
            except Exception as exc:
                translated = translate(what, exc)
                if translated is exc:
                    raise
                raise translated from exc

        return self.retrier.call(what, once)

    # -- steps -------------------------------------------------------------------------

    def find(self, region: str) -> str | None:
        """The AMI tagged with this release in a region, if there is one."""
        filters = [{"Name": f"tag:{k}", "Values": [v]} for k, v in self.tags.items()]
        found = self._call(self._ec2(region), "describe_images", Owners=["self"], Filters=filters)
        images = [i for i in found.get("Images", []) if i.get("State") != "deregistered"]
        return str(images[0]["ImageId"]) if images else None

    def stage(self) -> str:
        """Put the disk in the staging bucket (create-only, resumable, read back)."""
        staging = S3Target(
            type="s3",
            bucket=self.target.bucket,
            prefix=self.target.prefix,
            region=self.target.regions[0],
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
        ec2 = self._ec2(self.target.regions[0])
        task = self._call(
            ec2,
            "import_snapshot",
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
        )
        task_id = str(task["ImportTaskId"])
        return self.patience.wait_for(
            f"import of {self.name} ({task_id})", lambda: self._snapshot_done(ec2, task_id)
        )

    def _snapshot_done(self, ec2: Any, task_id: str) -> str | None:
        tasks = self._call(ec2, "describe_import_snapshot_tasks", ImportTaskIds=[task_id])
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
        result = self._call(self._ec2(self.target.regions[0]), "register_image", **params)
        return str(result["ImageId"])

    def copy(self, image_id: str, region: str) -> str:
        result = self._call(
            self._ec2(region),
            "copy_image",
            SourceImageId=image_id,
            SourceRegion=self.target.regions[0],
            Name=self.name,
            Description=f"sha256:{self.artifact.sha256}",
            ClientToken=client_token("copy-image", image_id, region),
            CopyImageTags=True,
        )
        return str(result["ImageId"])

    def share(self, image_id: str, region: str) -> None:
        if not self.target.launch_permissions:
            return
        adds = [
            {"Group": "all"} if who == "all" else {"UserId": who}
            for who in self.target.launch_permissions
        ]
        self._call(
            self._ec2(region),
            "modify_image_attribute",
            ImageId=image_id,
            LaunchPermission={"Add": adds},
        )

    def publish_image(self) -> ImageResult:
        primary = self.target.regions[0]
        images: dict[str, str] = {}
        created = False
        existing = self.find(primary)
        if existing is None:
            snapshot = self.import_snapshot(self.stage())
            existing = self.register(snapshot)
            created = True
        images[primary] = existing
        for region in self.target.regions[1:]:
            images[region] = self.find(region) or self.copy(existing, region)
        for region, image_id in images.items():
            self.share(image_id, region)
        return ImageResult(self.name, images, created)
