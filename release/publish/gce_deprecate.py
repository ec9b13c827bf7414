"""Rolling a GCE image family back: deprecate the newer image, naming its replacement.

A family resolves to its newest image that is not deprecated, so after a channel rolls back
from version N to M, deprecating N's image (replacement: M's) makes the family give M again.
Clients and error translation: `gcp_client`.
"""

from __future__ import annotations

from google.cloud import compute_v1

from release.errors import OperationError
from release.model.target import GceImageTarget
from release.publish.gce_image import gce_name
from release.publish.gcp_client import NotFound, call, images_client


def deprecation_status(project: str, replacement: str) -> dict[str, str]:
    """The images.deprecate body (pure, so what is sent can be checked without GCE)."""
    return {
        "state": "DEPRECATED",
        "replacement": f"projects/{project}/global/images/{replacement}",
    }


def deprecate_newer(
    target: GceImageTarget,
    image: str,
    newer: str,
    current: str,
    client: compute_v1.ImagesClient | None = None,
) -> str:
    """Deprecate the image of version `newer` in favour of version `current`'s; its name."""
    client = client or images_client(target.endpoint_url)
    old, new = gce_name(image, newer), gce_name(image, current)
    body = compute_v1.DeprecationStatus(**deprecation_status(target.project, new))
    try:
        # No waiting on the operation: its result() would poll through a client of its own.
        call(
            f"deprecate GCE image {old}",
            lambda: client.deprecate(
                project=target.project, image=old, deprecation_status_resource=body
            ),
        )
    except NotFound as exc:
        raise OperationError(f"GCE image {old} in {target.project}: not found") from exc
    return old
