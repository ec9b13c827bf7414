"""GCE image registry: stage the GCE tar.gz in GCS, then `images.insert` it into a family.

An image of the release's name whose description carries the disk's SHA-256 means done; one
of that name with another digest is refused (images, like releases, are immutable). The
insert is followed by polling `images.get` until READY, with the client we built (the
library's `operation.result()` would poll through a client of its own, ignoring our
endpoint). Clients and error translation: `gcp_client`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from google.cloud import compute_v1

from release.errors import InvalidInput, OperationError
from release.model.target import GceImageTarget, GcsTarget
from release.publish.gcp_client import NotFound, call, images_client
from release.publish.gcs import GcsMirror
from release.publish.journal import JournalStore
from release.publish.mirror import Conflict, LocalFile, PutContext
from release.publish.options import Options
from release.publish.registry import ImageResult, Patience, release_tags
from release.publish.retry import Retrier

DEFAULT_FEATURES = ("VIRTIO_SCSI_MULTIQUEUE",)


@dataclass(frozen=True)
class GceSpec:
    guest_os_features: tuple[str, ...] = DEFAULT_FEATURES


def gce_name(*parts: str) -> str:
    """A valid GCE resource name: lowercase letters, digits and '-', starting with a letter."""
    name = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    if not name or not name[0].isalpha():
        name = f"img-{name}"
    return name[:63].rstrip("-")


def gce_labels(image: str, version: str, sha256: str) -> dict[str, str]:
    """Labels naming the release; label values allow only [a-z0-9_-], at most 63."""
    tags = release_tags(image, version, sha256)
    tags["release-sha256"] = sha256[:32]
    return {k: re.sub(r"[^a-z0-9_-]", "-", v.lower())[:63] for k, v in tags.items()}


def insert_body(
    name: str, family: str | None, source: str, spec: GceSpec, labels: dict[str, str], sha: str
) -> dict[str, object]:
    """The images.insert body (pure, so what is sent can be checked without GCE)."""
    body: dict[str, object] = {
        "name": name,
        "description": f"sha256:{sha}",
        "raw_disk": {"source": source},
        "guest_os_features": [{"type_": f} for f in spec.guest_os_features],
        "labels": labels,
    }
    if family:
        body["family"] = family
    return body


def get_image(
    client: compute_v1.ImagesClient, project: str, name: str, retrier: Retrier
) -> compute_v1.Image | None:
    try:
        return call(
            f"get image {name}",
            lambda: client.get(project=project, image=name, retry=None),
            retrier,
        )
    except NotFound:
        return None


def find_release(
    client: compute_v1.ImagesClient,
    target: GceImageTarget,
    image: str,
    version: str,
    retrier: Retrier,
) -> str | None:
    """The READY image of (image, version), by its deterministic name; one `images.get`,
    read-only, so reconcile can ask before it makes a release."""
    found = get_image(client, target.project, gce_name(image, version), retrier)
    if found is None or found.status != "READY" or deprecated(found):
        return None
    return str(found.name)


def deprecated(found: compute_v1.Image) -> bool:
    """Deprecated (or worse): a family does not resolve to it, e.g. after a rollback."""
    return str(found.deprecated.state or "ACTIVE") != "ACTIVE"


class GceImageRegistry:
    def __init__(
        self,
        target: GceImageTarget,
        artifact: LocalFile,
        image: str,
        version: str,
        spec: GceSpec,
        journal: JournalStore,
        *,
        options: Options | None = None,
        retrier: Retrier | None = None,
        patience: Patience | None = None,
        compute_endpoint: str | None = None,
    ) -> None:
        if not artifact.name.endswith(".tar.gz"):
            raise InvalidInput(f"{artifact.name}: a GCE image is made from the .tar.gz artifact")
        self.target = target
        self.artifact = artifact
        self.image, self.version = image, version
        self.spec = spec
        self.journal = journal
        self.options = options or Options()
        self.retrier = retrier or Retrier()
        self.patience = patience or Patience(first=5, longest=30)
        self.name = gce_name(image, version)
        self._images = images_client(compute_endpoint or target.endpoint_url)

    def find(self) -> compute_v1.Image | None:
        found = get_image(self._images, self.target.project, self.name, self.retrier)
        if found is None:
            return None
        if found.description != f"sha256:{self.artifact.sha256}":
            raise Conflict(
                f"GCE image {self.name} exists with other contents ({found.description});"
                " images are immutable: publish a new version"
            )
        return found

    def stage(self) -> str:
        staging = GcsTarget(
            type="gcs",
            bucket=self.target.bucket,
            prefix=self.target.prefix,
            endpoint_url=self.target.staging_endpoint_url,
        )
        mirror = GcsMirror(staging, self.image, self.version, self.options)
        if self.artifact.name not in mirror.present([self.artifact.name]):
            mirror.put([self.artifact], PutContext(self.journal, self.retrier, False))
        back = mirror.read_back([self.artifact]).get(self.artifact.name)
        if back is None or back.sha256 != self.artifact.sha256:
            raise OperationError(f"{mirror.key(self.artifact.name)}: staged disk did not read back")
        return (
            f"https://storage.googleapis.com/{self.target.bucket}/{mirror.key(self.artifact.name)}"
        )

    def insert(self, source: str) -> None:
        body = insert_body(
            self.name,
            self.target.family,
            source,
            self.spec,
            gce_labels(self.image, self.version, self.artifact.sha256),
            self.artifact.sha256,
        )
        call(
            f"insert image {self.name}",
            lambda: self._images.insert(
                project=self.target.project, image_resource=compute_v1.Image(**body), retry=None
            ),
            self.retrier,
        )

    def _ready(self) -> compute_v1.Image | None:
        found = self.find()
        if found is None:
            return None
        if found.status == "FAILED":
            raise OperationError(f"GCE image {self.name} failed to build")
        return found if found.status == "READY" else None

    def publish_image(self) -> ImageResult:
        created = False
        if self.find() is None:
            self.insert(self.stage())
            created = True
        found = self.patience.wait_for(f"GCE image {self.name}", self._ready)
        if deprecated(found):  # a channel rolled back, then forward again
            self.undeprecate()
        return ImageResult(self.name, {self.target.project: self.name}, created)

    def undeprecate(self) -> None:
        """Make the image what its family resolves to again (state ACTIVE)."""
        call(
            f"undeprecate image {self.name}",
            lambda: self._images.deprecate(
                project=self.target.project,
                image=self.name,
                deprecation_status_resource=compute_v1.DeprecationStatus(state="ACTIVE"),
                retry=None,
            ),
            self.retrier,
        )
