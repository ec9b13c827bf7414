"""A channel's registry targets (aws-ami, gce-image, openstack-glance, cloudstack-template,
azure-image): what they hold, and feeding them.

A registry holds no channel index, so reconcile asks it directly whether the channel's
release is there, by the release's image and version (AMI tags in every region, with the
launch permissions; the GCE image's deterministic name): read-only and cheap, before any
release is made, so a run with nothing to do builds nothing. A missing image is made from the
release's artifact for the target (aws-ami: the aws variant's vhd, else its raw; gce-image:
the gce variant's tar.gz; openstack-glance: the openstack variant's qcow2, else its raw;
cloudstack-template: the cloudstack variant's qcow2, which goes to the target's mirror first;
azure-image: the vhd of the target's variant) by the target's registry, which is idempotent.
The cloud SDKs are
imported only when a registry target is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from release.errors import OperationError
from release.integrity.manifest import artifact_name
from release.model.image import ImageDefinition
from release.model.target import (
    AwsAmiTarget,
    AzureImageTarget,
    CloudStackTemplateTarget,
    Format,
    GceImageTarget,
    OpenStackGlanceTarget,
    Target,
)
from release.publish import layout
from release.publish.engine import local_file
from release.publish.journal import JournalStore
from release.publish.options import Options
from release.publish.registry import ImageResult, Patience, ena_support
from release.publish.retry import Retrier

RegistryTarget = (
    AwsAmiTarget
    | GceImageTarget
    | OpenStackGlanceTarget
    | CloudStackTemplateTarget
    | AzureImageTarget
)
REGISTRY_TYPES = (
    AwsAmiTarget,
    GceImageTarget,
    OpenStackGlanceTarget,
    CloudStackTemplateTarget,
    AzureImageTarget,
)
STACK = {
    "aws-ami": "aws",
    "gce-image": "gce",
    "openstack-glance": "openstack",
    "cloudstack-template": "cloudstack",
}
WANTED: dict[str, tuple[Format, ...]] = {
    "aws-ami": ("vhd", "raw"),
    "gce-image": ("gce",),
    "openstack-glance": ("qcow2", "raw"),
    "cloudstack-template": ("qcow2",),
    "azure-image": ("vhd",),
}


def find_release(target: RegistryTarget, image: str, version: str) -> dict[str, str] | None:
    """The release's images the target holds (region or project -> AMI id or image name),
    when complete; None when something is missing."""
    if isinstance(target, AwsAmiTarget):
        from release.publish import aws_ami

        ec2 = aws_ami.Ec2(target.endpoint_url, Retrier())
        return aws_ami.find_release(ec2, target, image, version)
    if isinstance(target, CloudStackTemplateTarget):
        from release.publish import cloudstack, cloudstack_client

        api = cloudstack_client.CloudStackApi(target.endpoint, Retrier())
        return cloudstack.find_release(api, target, image, version)
    if isinstance(target, AzureImageTarget):
        from release.publish import azure_image

        return azure_image.find_release(target, image, version)
    if isinstance(target, OpenStackGlanceTarget):
        from release.publish import glance_state

        return glance_state.find_release(target, image, version)
    from release.publish import gce_image, gcp_client

    client = gcp_client.images_client(target.endpoint_url)
    name = gce_image.find_release(client, target, image, version, Retrier())
    return {target.project: name} if name else None


def artifact_for(image: ImageDefinition, target: RegistryTarget) -> str:
    """The file of `image`'s release a registry target is fed from (pure)."""
    version = image.version
    variant = variant_for(image, target)
    formats = image.formats_for(variant)
    wanted = WANTED[target.type]
    chosen = next((f for f in wanted if f in formats), None)
    if chosen is None:
        raise OperationError(
            f"a {target.type} target takes {' or '.join(wanted)}, but image {image.name}"
            f" {version} variant {variant} produces {', '.join(formats)}"
        )
    return artifact_name(image.name, version, variant, chosen)


def variant_for(image: ImageDefinition, target: RegistryTarget) -> str:
    """The variant whose artifact feeds `target` (pure)."""
    if isinstance(target, AzureImageTarget):
        if target.variant is not None:
            if target.variant not in image.variants:
                raise OperationError(
                    f"an azure-image target takes variant {target.variant}, but image"
                    f" {image.name} {image.version} has none"
                )
            return target.variant
        vhd = [v for v in image.variants if "vhd" in image.formats_for(v)]
        return vhd[0] if vhd else next(iter(image.variants))
    stack = STACK[target.type]
    variants = [v for v in image.variants if image.stack_of(v) == stack]
    if not variants:
        raise OperationError(
            f"a {target.type} target needs a `{stack}` variant, but image {image.name}"
            f" {image.version} has none"
        )
    return stack if stack in variants else variants[0]


def publish_image(
    target: RegistryTarget,
    directory: Path,
    image: ImageDefinition,
    journal: JournalStore,
    options: Options | None = None,
    patience: Patience | None = None,
    mirrors: Mapping[str, Target] | None = None,
) -> ImageResult:
    """Stage, import and register `image`'s release, sealed in `directory` (idempotent).
    `mirrors` are the config's targets by name (a cloudstack-template names its mirror)."""
    path = directory / artifact_for(image, target)
    if not path.is_file():
        raise OperationError(f"{path}: not in the release; it cannot feed the {target.type} target")
    sealed = layout.sealed_digests(layout.scan(directory)).get(path.name)
    if isinstance(target, CloudStackTemplateTarget | AzureImageTarget):
        where = (directory, path, sealed)
        return _publish_cs_azure(target, where, image, journal, options, patience, mirrors)
    if isinstance(target, AwsAmiTarget):
        from release.publish.aws_ami import AmiRegistry, AmiSpec

        staged = local_file(path, f"s3://{target.bucket}/{target.prefix}", journal, sealed)
        spec = AmiSpec(ena_support=ena_support(image.el))
        return AmiRegistry(
            target,
            staged,
            image.name,
            image.version,
            spec,
            journal,
            options=options,
            patience=patience,
        ).publish_image()
    if isinstance(target, OpenStackGlanceTarget):
        return _publish_glance(target, (directory, path, sealed), image, journal, patience)
    from release.publish.gce_image import GceImageRegistry, GceSpec

    staged = local_file(path, f"gs://{target.bucket}/{target.prefix}", journal, sealed)
    return GceImageRegistry(
        target,
        staged,
        image.name,
        image.version,
        GceSpec(),
        journal,
        options=options,
        patience=patience,
    ).publish_image()


def _publish_cs_azure(
    target: CloudStackTemplateTarget | AzureImageTarget,
    where: tuple[Path, Path, str | None],  # the release dir, the artifact, its sealed digest
    image: ImageDefinition,
    journal: JournalStore,
    options: Options | None,
    patience: Patience | None,
    mirrors: Mapping[str, Target] | None,
) -> ImageResult:
    directory, path, sealed = where
    if isinstance(target, CloudStackTemplateTarget):
        from release.publish.cloudstack_publish import publish_template

        staged = local_file(path, target.endpoint, journal, sealed)
        return publish_template(
            target, directory, staged, image, journal, dict(mirrors or {}), options, patience
        )
    from release.publish.azure_image import publish_azure_image

    staged = local_file(path, target.account_url, journal, sealed)
    return publish_azure_image(target, staged, image, journal, options, patience)


def roll_back(target: RegistryTarget, image: str, newer: str, current: str) -> str | None:
    """After a channel went back from `newer` to `current`: make the newer image no longer
    what users get (GCE: deprecate it; Glance: hide or deactivate it; CloudStack: make its
    template private; an Azure gallery: exclude the version from `latest`). What was done, or
    None (nothing to do)."""
    if isinstance(target, GceImageTarget):
        from release.publish.gce_deprecate import deprecate_newer  # google SDK: only when used

        return f"rollback: deprecated GCE image {deprecate_newer(target, image, newer, current)}"
    if isinstance(target, OpenStackGlanceTarget):
        from release.publish.glance_state import retire_newer  # openstacksdk: only when used

        ids = ", ".join(retire_newer(target, image, newer)) or "none left"
        done = "hid" if target.rollback == "hide" else "deactivated"
        return f"rollback: {done} Glance image of {image} {newer} ({ids})"
    if isinstance(target, CloudStackTemplateTarget):
        from release.publish import cloudstack, cloudstack_client

        api = cloudstack_client.CloudStackApi(target.endpoint, Retrier())
        return (
            f"rollback: made CloudStack template {cloudstack.hide_newer(api, image, newer)} private"
        )
    if isinstance(target, AzureImageTarget) and target.gallery is not None:
        from release.publish import azure_image

        done = azure_image.exclude_from_latest(target, image, newer)
        return f"rollback: excluded gallery image version {done} from latest"
    return None


def _publish_glance(
    target: OpenStackGlanceTarget,
    where: tuple[Path, Path, str | None],  # the release dir, the artifact, its sealed digest
    image: ImageDefinition,
    journal: JournalStore,
    patience: Patience | None,
) -> ImageResult:
    from release.publish.glance_image import GlanceRegistry, GlanceSpec

    directory, path, sealed = where
    endpoint = target.endpoint_url or f"openstack://{target.cloud or 'env'}"
    staged = local_file(path, endpoint, journal, sealed)
    variant = variant_for(image, target)
    spec = GlanceSpec(
        el=image.el,
        arch=image.arch,
        disk_size=image.disk.size,
        guest_agent="qemu-guest-agent" in image.packages_for(variant),
    )
    registry = GlanceRegistry(
        target,
        staged,
        image.name,
        image.version,
        spec,
        journal,
        sealed_md5=layout.sealed_digests(layout.scan(directory), "md5").get(path.name),
    )
    if patience is not None:
        registry.patience = patience
    return registry.publish_image()
