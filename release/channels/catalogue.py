"""The machine-readable catalogue of a channel, in the spirit of simplestreams. Pure.

`streams/v1/<channel>.json` (signed like the indexes, `.asc` beside it) lists, per product
(`<image>:<variant>`), every version the channel's index names whose manifest was found, and
per version the items (one per artifact) with path, size and digests. It carries the channel
index's serial and the sha256 of the index bytes it was made from, so a tool can tie it to
the signed index; the index stays the authority on which release is current.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from release.channels.index import ChannelIndex, IndexedRelease, rfc3339
from release.integrity.manifest import Manifest

FORMAT = "products:1.0"
CONTENT_ID = "org.image-release:{channel}"


def _items(release: IndexedRelease, manifest: Manifest, variant: str) -> dict[str, Any]:
    items = {}
    for artifact in manifest.artifacts:
        if artifact.variant != variant:
            continue
        key = artifact.format + (f".{artifact.compression}" if artifact.compression else "")
        items[key] = {
            "ftype": key,
            "path": f"{release.path}/{artifact.name}",
            "size": artifact.size,
            **{algo: artifact.hexdigest(algo) for algo in sorted(artifact.digests)},
        }
    return items


def products(
    index: ChannelIndex, index_sha256: str, manifests: Mapping[str, Manifest]
) -> dict[str, Any]:
    """The catalogue of `index`; `manifests` maps a release path to its (checked) manifest.
    Releases without a manifest there are left out."""
    found: dict[str, Any] = {}
    for release in (index.current, *index.history):
        manifest = manifests.get(release.path)
        if manifest is None:
            continue
        for variant in manifest.variants:
            product = found.setdefault(
                f"{release.image}:{variant}",
                {"image": release.image, "variant": variant, "versions": {}},
            )
            product["versions"][release.version] = {
                "path": release.path,
                "manifest_sha256": release.manifest_sha256,
                "current": release == index.current,
                "items": _items(release, manifest, variant),
            }
    return {
        "format": FORMAT,
        "datatype": "image-downloads",
        "content_id": CONTENT_ID.format(channel=index.channel),
        "channel": index.channel,
        "serial": index.serial,
        "index_sha256": index_sha256,
        "updated": rfc3339(index.issued),
        "expires": rfc3339(index.expires),
        "products": found,
    }


def render(catalogue: Mapping[str, Any]) -> bytes:
    """Canonical bytes (sorted keys, ASCII), like the indexes."""
    return json.dumps(catalogue, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
