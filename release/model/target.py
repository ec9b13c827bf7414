"""Publish targets: mirrors (filesystem, rsync, s3, gcs) and registries (aws-ami, gce-image).

Defined once in `targets/<name>.yaml`, referenced by name from channels. No credentials here:
they come from the standard chains (AWS env/profile/role, Google ADC).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

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


Target = Annotated[
    FilesystemTarget | RsyncTarget | S3Target | GcsTarget | AwsAmiTarget | GceImageTarget,
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
}

DEFAULT_TARGET_NAME: Name = "local"
DEFAULT_TARGET = FilesystemTarget(type="filesystem", path="mirror")
