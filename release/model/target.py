"""Publish targets: mirrors (filesystem, rsync, s3, gcs) and registries (aws-ami, gce-image,
cloudstack-template, azure-image).

Defined once in `targets/<name>.yaml`, referenced by name from channels. No credentials here:
they come from the standard chains (AWS env/profile/role, Google ADC, CloudStack's
CLOUDSTACK_KEY/CLOUDSTACK_SECRET or cloudstack.ini, Azure's DefaultAzureCredential or
AZURE_STORAGE_CONNECTION_STRING).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

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


class CloudStackTemplateTarget(Model):
    """Registers the cloudstack variant's qcow2 from a mirror's public URL (CloudStack
    downloads it itself): the mirror target gets the release first."""

    type: Literal["cloudstack-template"]
    endpoint: str  # the API URL, e.g. https://cloud.example.org/client/api
    mirror: Name  # the mirror target (in targets/) the qcow2 is published to first
    public_url: str  # that mirror's public base URL: <public_url>/<image>/<version>/<file>
    zones: tuple[str, ...] = Field(min_length=1)  # zone ids
    hypervisor: str = "KVM"
    # Per EL major version: a CloudStack OS type, by its description (as listOsTypes names
    # it) or its id.
    os_types: dict[int, str] = Field(default_factory=lambda: {6: "CentOS 6.5 (64-bit)",
                                                              7: "CentOS 7"})  # fmt: skip
    public: bool = True
    featured: bool = False
    wait_seconds: int = Field(default=2 * 3600, ge=1)  # until every zone has the template ready

    @field_validator("endpoint", "public_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s):// URL")
        return value.rstrip("/")


class AzureGallery(Model):
    """A Compute Gallery image definition the release becomes a version of."""

    name: str
    image: str  # the gallery image definition
    regions: tuple[str, ...] = ()  # replication regions besides the target's location
    storage_account_id: str  # the resource id of the account holding the staged VHD


class AzureImageTarget(Model):
    """Uploads a variant's fixed VHD as a page blob, then makes a managed image, or a Compute
    Gallery image version replicated to regions."""

    type: Literal["azure-image"]
    account_url: str  # https://<account>.blob.core.windows.net
    container: str
    prefix: str = ""
    subscription_id: str
    resource_group: str
    location: str
    variant: Name | None = None  # whose vhd; default: the first variant that makes one
    gallery: AzureGallery | None = None  # None: a managed image
    endpoint_url: str | None = None  # the Resource Manager endpoint (a local stub)

    @field_validator("account_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s):// URL")
        return value.rstrip("/")


Target = Annotated[
    FilesystemTarget
    | RsyncTarget
    | S3Target
    | GcsTarget
    | AwsAmiTarget
    | GceImageTarget
    | CloudStackTemplateTarget
    | AzureImageTarget,
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
    "cloudstack-template": ("qcow2",),
    "azure-image": ("vhd",),
}

DEFAULT_TARGET_NAME: Name = "local"
DEFAULT_TARGET = FilesystemTarget(type="filesystem", path="mirror")
