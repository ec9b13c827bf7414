"""What an openstack-glance target holds of a release, and rolling one back.

`find_release` is reconcile's read-only lookup (one image list per region, plus the members
of a shared image): a release is there when every region has an active, not hidden image
tagged with its image name and version, with the target's visibility (and members).
`retire_newer` is the rollback: the newer release's image is hidden (`os_hidden`, so image
lists and "latest" lookups skip it while servers booted from it keep working) or deactivated
(nobody can boot it), per the target's `rollback`. Republishing it undoes either.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from release.model.target import OpenStackGlanceTarget
from release.publish.glance_image import place, published
from release.publish.openstack_client import GlanceClient, GlanceImage, connect, regions
from release.publish.retry import Retrier

Connect = Callable[[str | None], GlanceClient]


def version_tags(image: str, version: str) -> tuple[str, ...]:
    return (f"release-image:{image}", f"release-version:{version}")


def _connector(target: OpenStackGlanceTarget, connector: Connect | None) -> Connect:
    return connector or (lambda region: connect(target.cloud, region, target.endpoint_url))


def find_release(
    target: OpenStackGlanceTarget,
    image: str,
    version: str,
    retrier: Retrier | None = None,
    connector: Connect | None = None,
) -> dict[str, str] | None:
    """Region -> image id of the release, when every region has it; else None."""
    retrier = retrier or Retrier()
    open_client = _connector(target, connector)
    found: dict[str, str] = {}
    for region in regions(target.regions):
        client = open_client(region)
        ready = retrier.call(
            f"find {image} {version}", partial(_ready, target, client, image, version)
        )
        if not ready:
            return None
        found[place(target, region)] = ready[0].id
    return found


def _ready(
    target: OpenStackGlanceTarget, client: GlanceClient, image: str, version: str
) -> list[GlanceImage]:
    return [
        i for i in client.find(version_tags(image, version), False) if published(target, client, i)
    ]


def retire_newer(
    target: OpenStackGlanceTarget,
    image: str,
    newer: str,
    retrier: Retrier | None = None,
    connector: Connect | None = None,
) -> list[str]:
    """Hide or deactivate (per `target.rollback`) the images of version `newer`; their ids."""
    retrier = retrier or Retrier()
    open_client = _connector(target, connector)
    done: list[str] = []
    for region in regions(target.regions):
        client = open_client(region)
        tags = version_tags(image, newer)
        for found in retrier.call(f"find {image} {newer}", partial(client.find, tags, False)):
            retrier.call(f"{target.rollback} {found.id}", partial(_retire, target, client, found))
            done.append(found.id)
    return done


def _retire(target: OpenStackGlanceTarget, client: GlanceClient, found: GlanceImage) -> None:
    if target.rollback == "hide":
        client.update(found.id, [{"op": "replace", "path": "/os_hidden", "value": True}])
    elif client.get(found.id).status == "active":
        client.action(found.id, "deactivate")
