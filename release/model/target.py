"""Publish targets: mirrors (filesystem, rsync, s3, gcs) and registries (aws-ami, gce-image,
openstack-glance, cloudstack-template, azure-image).

Defined once in `targets/<name>.yaml`, referenced by name from channels. No credentials here:
they come from the standard chains (AWS env/profile/role, Google ADC, OpenStack clouds.yaml
or OS_* variables, CloudStack's CLOUDSTACK_KEY/CLOUDSTACK_SECRET or cloudstack.ini, Azure's
DefaultAzureCredential or AZURE_STORAGE_CONNECTION_STRING).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

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
    | OpenStackGlanceTarget
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
    "openstack-glance": ("qcow2", "raw"),
    "cloudstack-template": ("qcow2",),
    "azure-image": ("vhd",),
}

DEFAULT_TARGET_NAME: Name = "local"
DEFAULT_TARGET = FilesystemTarget(type="filesystem", path="mirror")
