"""Publish targets: mirrors (filesystem, rsync, s3, gcs) and registries (aws-ami, gce-image,
openstack-glance).

Defined once in `targets/<name>.yaml`, referenced by name from channels. No credentials here:
they come from the standard chains (AWS env/profile/role, Google ADC, OpenStack clouds.yaml
or OS_* variables).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from release.model.base import Model, Name

Format = Literal["qcow2", "raw", "vhd", "ova", "gce"]
ALL_FORMATS: tuple[Format, ...] = ("qcow2", "raw", "vhd", "ova", "gce")


class FilesystemTarget(Model):
    """A directory; relative paths are relative to the config repo's root."""

    type: Literal["filesystem"]
    path: str


class RsyncTarget(Model):
    """`host:path` (rsync over ssh) or `rsync://host/module/path` (rsync daemon)."""

    type: Literal["rsync"]
    url: str
    ssh_port: int | None = None


class S3Target(Model):
    type: Literal["s3"]
    bucket: str
    prefix: str = ""
    region: str | None = None
    endpoint_url: str | None = None


class GcsTarget(Model):
    type: Literal["gcs"]
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None


class AwsAmiTarget(Model):
    """Imports the disk as a snapshot via S3 staging, registers an AMI, copies it to regions."""

    type: Literal["aws-ami"]
    regions: tuple[str, ...] = Field(min_length=1)
    bucket: str
    prefix: str = ""
    launch_permissions: tuple[str, ...] = ()  # account ids, or `all` (public)
    endpoint_url: str | None = None  # the EC2 endpoint (a local stub, a private endpoint)
    staging_endpoint_url: str | None = None  # the staging bucket's S3 endpoint


class GceImageTarget(Model):
    """Stages the GCE tar.gz in GCS and inserts an image into a family."""

    type: Literal["gce-image"]
    project: str
    bucket: str
    prefix: str = ""
    family: str | None = None
    endpoint_url: str | None = None  # the Compute API endpoint (a local stub)
    staging_endpoint_url: str | None = None  # the staging bucket's GCS endpoint


class OpenStackGlanceTarget(Model):
    """Uploads the openstack variant's qcow2 (or raw) to Glance, in one or more regions."""

    type: Literal["openstack-glance"]
    cloud: str | None = Field(
        default=None, description="a clouds.yaml entry; none: the OS_* environment variables"
    )
    regions: tuple[str, ...] = Field(
        default=(), description="the image is uploaded to each; none: the cloud's own region"
    )
    visibility: Literal["private", "shared", "community", "public"] = Field(
        default="private", description="set only once Glance's digests match the release's"
    )
    share_with: tuple[str, ...] = Field(
        default=(), description="project ids that get the image, with visibility: shared"
    )
    import_method: Literal["auto", "glance-direct", "web-download", "upload"] = Field(
        default="auto",
        description="auto: web-download (with mirror_url) or glance-direct where the cloud"
        " offers them (GET /v2/info/import), else a plain upload",
    )
    mirror_url: str | None = Field(
        default=None,
        description="public base URL of a mirror holding <image>/<version>/<file>,"
        " for web-download",
    )
    rollback: Literal["hide", "deactivate"] = Field(
        default="hide",
        description="what a channel rollback does to the newer image: hide (os_hidden) or"
        " deactivate",
    )
    hw_vif_model: str = Field(default="virtio", description="the NIC model Nova gives servers")
    min_ram: int | None = Field(
        default=None, ge=0, description="MiB; default 512 for EL6, 1024 for EL7"
    )
    properties: dict[str, str] = Field(
        default_factory=dict,
        description="more image properties; os_distro, os_version, architecture, hw_* win",
    )
    endpoint_url: str | None = Field(
        default=None, description="the image endpoint, without Keystone (a local Glance)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> OpenStackGlanceTarget:
        if self.visibility == "shared" and not self.share_with:
            raise ValueError("visibility: shared needs share_with (the project ids to share with)")
        if self.share_with and self.visibility != "shared":
            raise ValueError("share_with is only for visibility: shared")
        if self.import_method == "web-download" and not self.mirror_url:
            raise ValueError("import_method: web-download needs mirror_url (where Glance fetches)")
        return self


Target = Annotated[
    FilesystemTarget
    | RsyncTarget
    | S3Target
    | GcsTarget
    | AwsAmiTarget
    | GceImageTarget
    | OpenStackGlanceTarget,
    Field(discriminator="type"),
]

# What each target type can take; a mirror takes every format.
ACCEPTS: dict[str, tuple[Format, ...]] = {
    "filesystem": ALL_FORMATS,
    "rsync": ALL_FORMATS,
    "s3": ALL_FORMATS,
    "gcs": ALL_FORMATS,
    "aws-ami": ("vhd", "raw"),
    "gce-image": ("gce",),
    "openstack-glance": ("qcow2", "raw"),
}

DEFAULT_TARGET_NAME: Name = "local"
DEFAULT_TARGET = FilesystemTarget(type="filesystem", path="mirror")
