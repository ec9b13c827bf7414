"""Azure image registry: the fixed VHD as a page blob, then a managed image or a Compute
Gallery image version (replicated to regions), with azure-mgmt-compute.

Idempotent by tags: the image (or version) of the release's name carrying the disk's SHA-256
in its tags means done; one with another digest is refused (images are immutable). Creation
is awaited by reading `provisioningState` with our own patience, not the SDK's poller. A
gallery rollback excludes the newer version from `latest`; rolling forward includes it again.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from azure.core.credentials import TokenCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute import models as m

from release.errors import InvalidInput, OperationError
from release.model.image import ImageDefinition
from release.model.target import AzureImageTarget
from release.publish.azure_blob import stage_vhd
from release.publish.azure_client import (
    NotFound,
    blob_client,
    call,
    compute_client,
)
from release.publish.journal import DONE, JournalStore
from release.publish.mirror import Conflict, LocalFile, prove
from release.publish.options import Options
from release.publish.registry import ImageResult, Patience, release_tags
from release.publish.retry import Retrier

log = logging.getLogger("release.publish")

Resource = m.Image | m.GalleryImageVersion


def azure_name(image: str, version: str) -> str:
    """A managed image name: letters, digits, '.', '-', '_', at most 80."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", f"{image}-{version}")[:80].rstrip(".-")


def gallery_version(version: str) -> str:
    """A gallery image version is MAJOR.MINOR.PATCH, each a 32-bit integer."""
    if not re.fullmatch(r"\d{1,9}\.\d{1,9}\.\d{1,9}", version):
        raise InvalidInput(
            f"version {version!r} cannot be a Compute Gallery image version (MAJOR.MINOR.PATCH"
            " integers): use such versions for images published to a gallery"
        )
    return version


def blob_path(target: AzureImageTarget, image: str, version: str, name: str) -> str:
    return "/".join(p for p in (target.prefix.strip("/"), image, version, name) if p)


def managed_image(target: AzureImageTarget, url: str, tags: dict[str, str]) -> m.Image:
    """The managed image's body (pure, so what is sent can be checked without Azure)."""
    disk = m.ImageOSDisk(os_type="Linux", os_state="Generalized", blob_uri=url, caching="ReadWrite")
    return m.Image(
        location=target.location,
        tags=tags,
        properties=m.ImageProperties(
            hyper_v_generation="V1", storage_profile=m.ImageStorageProfile(os_disk=disk)
        ),
    )


def gallery_image_version(
    target: AzureImageTarget, url: str, tags: dict[str, str]
) -> m.GalleryImageVersion:
    """The gallery image version's body: replicated to the target's location and regions."""
    if target.gallery is None:
        raise InvalidInput("an image version needs the target's `gallery`")
    regions = dict.fromkeys((target.location, *target.gallery.regions))
    source = m.GalleryDiskImageSource(uri=url, storage_account_id=target.gallery.storage_account_id)
    return m.GalleryImageVersion(
        location=target.location,
        tags=tags,
        properties=m.GalleryImageVersionProperties(
            publishing_profile=m.GalleryImageVersionPublishingProfile(
                target_regions=[m.TargetRegion(name=r, regional_replica_count=1) for r in regions],
                exclude_from_latest=False,
            ),
            storage_profile=m.GalleryImageVersionStorageProfile(
                os_disk_image=m.GalleryOSDiskImage(source=source)
            ),
        ),
    )


@dataclass
class Compute:
    """The target's image or gallery image version of one release, through one client."""

    target: AzureImageTarget
    name: str  # the managed image's name, or the gallery version
    retrier: Retrier
    client: ComputeManagementClient

    @classmethod
    def open(
        cls,
        target: AzureImageTarget,
        image: str,
        version: str,
        retrier: Retrier,
        credential: TokenCredential | None = None,
    ) -> Compute:
        name = gallery_version(version) if target.gallery else azure_name(image, version)
        client = compute_client(target.subscription_id, target.endpoint_url, credential)
        return cls(target, name, retrier, client)

    @property
    def what(self) -> str:
        g = self.target.gallery
        return (
            f"gallery image {g.name}/{g.image} version {self.name}" if g else f"image {self.name}"
        )

    def get(self) -> Resource | None:
        g, rg = self.target.gallery, self.target.resource_group
        versions, images = self.client.gallery_image_versions, self.client.images

        def get() -> Resource:
            if g is not None:
                return versions.get(rg, g.name, g.image, self.name)
            return images.get(rg, self.name)

        try:
            return call(self.retrier, f"get {self.what}", get)
        except NotFound:
            return None

    def create(self, body: Resource) -> None:
        g, rg = self.target.gallery, self.target.resource_group
        if g is not None and isinstance(body, m.GalleryImageVersion):
            versions = self.client.gallery_image_versions
            call(self.retrier, f"create {self.what}", lambda: versions.begin_create_or_update(
                rg, g.name, g.image, self.name, body, polling=False))  # fmt: skip
        elif isinstance(body, m.Image):
            images = self.client.images
            call(self.retrier, f"create {self.what}", lambda: images.begin_create_or_update(
                rg, self.name, body, polling=False))  # fmt: skip

    def set_latest(self, latest: bool) -> None:
        """Include the gallery version in `latest`, or exclude it (a rollback): read it,
        change the flag, write it back (what `az sig image-version update --set` does)."""
        found = self.get()
        profile = getattr(found.properties, "publishing_profile", None) if found else None
        if not isinstance(found, m.GalleryImageVersion) or profile is None:
            raise OperationError(f"Azure {self.what}: not found, or not a gallery version")
        profile.exclude_from_latest = not latest
        self.create(found)


def state(found: m.TrackedResource) -> str:
    current = getattr(getattr(found, "properties", None), "provisioning_state", None)
    return str(getattr(current, "value", current) or "")  # a gallery's is an enum


def excluded(found: m.TrackedResource) -> bool:
    profile = getattr(getattr(found, "properties", None), "publishing_profile", None)
    return bool(getattr(profile, "exclude_from_latest", False))


def resource_id(found: m.TrackedResource, fallback: str) -> str:
    return str(found.id or fallback)


def find_release(
    target: AzureImageTarget, image: str, version: str, credential: TokenCredential | None = None
) -> dict[str, str] | None:
    """location -> resource id when the release's image (or gallery version) exists, was made
    from this release (tags), succeeded and, in a gallery, is not excluded from latest."""
    compute = Compute.open(target, image, version, Retrier(), credential)
    found = compute.get()
    tags = (found.tags or {}) if found is not None else {}
    if found is None or (tags.get("release-image"), tags.get("release-version")) != (
        image,
        version,
    ):
        return None
    if state(found) != "Succeeded" or excluded(found):
        return None
    return {target.location: resource_id(found, compute.name)}


def exclude_from_latest(
    target: AzureImageTarget, image: str, newer: str, credential: TokenCredential | None = None
) -> str:
    """After a rollback: the newer gallery version no longer is the image's `latest`."""
    compute = Compute.open(target, image, newer, Retrier(), credential)
    if compute.get() is None:
        raise OperationError(f"Azure {compute.what}: not found")
    compute.set_latest(False)
    return compute.name


class AzureImageRegistry:
    def __init__(
        self,
        target: AzureImageTarget,
        artifact: LocalFile,
        image: str,
        version: str,
        journal: JournalStore,
        *,
        options: Options | None = None,
        retrier: Retrier | None = None,
        patience: Patience | None = None,
        credential: TokenCredential | None = None,
    ) -> None:
        if not artifact.name.endswith(".vhd"):
            raise InvalidInput(f"{artifact.name}: an Azure image is made from a fixed .vhd")
        self.target, self.artifact = target, artifact
        self.image, self.version = image, version
        self.journal = journal
        self.options = options or Options()
        self.retrier = retrier or Retrier()
        self.patience = patience or Patience(first=10, longest=60)
        self.tags = release_tags(image, version, artifact.sha256)
        self.compute = Compute.open(target, image, version, self.retrier, credential)
        self.blob = blob_client(
            target.account_url,
            target.container,
            blob_path(target, image, version, artifact.name),
        )

    def find(self) -> Resource | None:
        found = self.compute.get()
        if found is not None and (found.tags or {}).get("release-sha256") != self.artifact.sha256:
            raise Conflict(
                f"Azure {self.compute.what} exists, made from another disk"
                f" (tags {found.tags}); images are immutable: publish a new version"
            )
        return found

    def stage(self) -> str:
        """The VHD in its page blob (resumable); its URL."""
        prove(self.artifact, self.journal)
        stage_vhd(
            self.blob,
            self.artifact,
            self.image,
            self.version,
            self.retrier,
            self.options.concurrency,
        )
        self.journal.record(
            self.artifact.step,
            self.target.account_url,
            self.artifact.name,
            self.artifact.sha256,
            self.artifact.size,
            DONE,
            "page blob",
        )
        return str(self.blob.url)

    def _succeeded(self) -> Resource | None:
        found = self.find()
        current = state(found) if found is not None else "not listed yet"
        if found is not None and current == "Succeeded":
            return found
        if current in ("Failed", "Canceled"):
            raise OperationError(f"Azure {self.compute.what} is {current}: delete it and rerun")
        log.info("Azure %s: %s", self.compute.what, current or "creating")
        return None

    def publish_image(self) -> ImageResult:
        created = False
        if self.find() is None:
            url = self.stage()
            body = (
                gallery_image_version(self.target, url, self.tags)
                if self.target.gallery
                else managed_image(self.target, url, self.tags)
            )
            self.compute.create(body)
            created = True
        found = self.patience.wait_for(f"Azure {self.compute.what}", self._succeeded)
        if self.target.gallery is not None and excluded(found):  # rolled back, then forward
            self.compute.set_latest(True)
        where = {self.target.location: resource_id(found, self.compute.name)}
        return ImageResult(self.compute.name, where, created)


def publish_azure_image(
    target: AzureImageTarget,
    staged: LocalFile,
    image: ImageDefinition,
    journal: JournalStore,
    options: Options | None = None,
    patience: Patience | None = None,
) -> ImageResult:
    registry = AzureImageRegistry(
        target, staged, image.name, image.version, journal, options=options, patience=patience
    )
    return registry.publish_image()
