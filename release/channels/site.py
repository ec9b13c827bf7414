"""Write the browsable mirror into a target, after its signed indexes (the IO of pages.py).

Called once per target at the end of a run that wrote its snapshot (reconcile, resign), under
the target's index lock; a target whose front page does not show its snapshot (a run stopped
before its pages) is caught up by the next reconcile. The model comes from the
target itself, checked before it is shown: an index is used only if its sha256 is the one
the new snapshot lists, a manifest only if its sha256 is the one the index names. Then, in
this order: the signing key, release pages (create-only: a release never changes), the
signed catalogues, the image pages and last the front page (each compare-and-swap on what
was read). A page that already holds the same bytes is not rewritten.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from release.channels import catalogue, pages
from release.channels.index import (
    INDEX_PATH,
    SNAPSHOT_PATH,
    ChannelIndex,
    IndexedRelease,
    Snapshot,
    parse_index,
)
from release.errors import ReleaseError
from release.integrity.manifest import MANIFEST, Manifest
from release.integrity.signing import Signer
from release.model.target import Target
from release.publish.indexstore import Changed, IndexStore, signed_write
from release.publish.options import Options
from release.publish.targets import holds_index, open_index_store

log = logging.getLogger(__name__)


@dataclass
class SiteResult:
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # why an index or manifest was left out


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def listed_indexes(store: IndexStore, snapshot: Snapshot, result: SiteResult) -> dict[str, bytes]:
    """The bytes of every channel index whose digest is the snapshot's, by channel."""
    found = {}
    for channel, digest in sorted(snapshot.indexes.items()):
        stored = store.read(INDEX_PATH.format(channel=channel))
        if stored is None or _sha256(stored.data) != digest:
            result.skipped.append(f"{channel}: the index is not the one the snapshot lists")
            continue
        found[channel] = stored.data
    return found


def _manifest(store: IndexStore, release: IndexedRelease, result: SiteResult) -> Manifest | None:
    """The release's manifest, if the target holds the one the index names."""
    where = f"{release.path}/{MANIFEST}"
    if release.path != f"{release.image}/{release.version}":
        result.skipped.append(f"{release.path}: not where {release.image} {release.version} goes")
        return None
    stored = store.read(where)
    if stored is None or _sha256(stored.data) != release.manifest_sha256:
        result.skipped.append(f"{where}: missing, or not the manifest the index names")
        return None
    try:
        manifest = Manifest.parse(stored.data, where)
    except ReleaseError as exc:
        result.skipped.append(str(exc))
        return None
    if (manifest.image, manifest.version) != (release.image, release.version):
        result.skipped.append(f"{where}: is {manifest.image} {manifest.version}")
        return None
    return manifest


def _create(store: IndexStore, name: str, data: bytes, result: SiteResult) -> None:
    if store.read(name) is not None:
        return
    try:
        store.write(name, data, None)
    except Changed:
        return  # written meanwhile; create-only keeps the first
    result.written.append(name)


def _replace(store: IndexStore, name: str, data: bytes, result: SiteResult) -> None:
    before = store.read(name)
    if before is not None and before.data == data:
        return
    store.write(name, data, before)
    result.written.append(name)


def stale(store: IndexStore) -> bytes | None:
    """The target's snapshot when its front page does not show it (pages missing, or left
    behind by a run that stopped after the snapshot); None when there is nothing to do."""
    snapshot = store.read(SNAPSHOT_PATH)
    if snapshot is None:
        return None
    front = store.read(pages.PAGE)
    marker = pages.snapshot_meta(_sha256(snapshot.data)).encode()
    return None if front is not None and marker in front.data else snapshot.data


def stale_stores(targets: Mapping[str, Target], options: Options | None) -> dict[str, IndexStore]:
    """The mirror targets whose pages are behind their snapshot, by name."""
    found = {}
    for name, target in sorted(targets.items()):
        if holds_index(target):
            store = open_index_store(target, options)
            if stale(store) is not None:
                found[name] = store
    return found


def catch_up(store: IndexStore, signer: Signer) -> SiteResult | None:
    """Rewrite the pages of a stale target under its lock (None: another run did it)."""
    with store.lock():
        snapshot = stale(store)
        return None if snapshot is None else refresh(store, snapshot, signer)


def catch_up_all(
    stores: Mapping[str, IndexStore], written: Collection[str], signer: Signer
) -> list[str]:
    """Once a run wrote its indexes: the pages of each target it wrote to or found behind,
    one refresh per target. Returns warnings: pages that were behind (not `written` by this
    run), pages that could not be written (the indexes stand; the next run redoes them)."""
    warnings = []
    for name, store in sorted(stores.items()):
        try:
            done = catch_up(store, signer)
        except ReleaseError as exc:
            log.error("%s: the pages were not written: %s", name, exc)
            warnings.append(f"{name}: the pages were not written ({exc}); the next run redoes them")
            continue
        if done is not None and name not in written:
            warnings.append(f"{name}: the pages were behind the snapshot: redone")
    return warnings


def refresh(store: IndexStore, snapshot_bytes: bytes, signer: Signer) -> SiteResult:
    """Bring the pages and catalogues of `store` in line with the snapshot just written."""
    result = SiteResult()
    snapshot = Snapshot.model_validate_json(snapshot_bytes)
    raw = listed_indexes(store, snapshot, result)
    indexes: list[ChannelIndex] = []
    for channel, data in raw.items():
        index = parse_index(data)
        if index.channel == channel:
            indexes.append(index)
    manifests: dict[str, Manifest] = {}
    for index in indexes:
        for release in (index.current, *index.history):
            if release.path not in manifests:
                found = _manifest(store, release, result)
                if found is not None:
                    manifests[release.path] = found
    fingerprint = signer.fingerprint
    _create(store, pages.KEY_PATH.format(fingerprint=fingerprint), signer.public_key(), result)
    for path, manifest in sorted(manifests.items()):
        page = pages.release_page(manifest, [fingerprint])
        _create(store, f"{path}/{pages.PAGE}", page.encode(), result)
    for index in indexes:
        products = catalogue.products(index, _sha256(raw[index.channel]), manifests)
        data = catalogue.render(products)
        path = pages.CATALOGUE_PATH.format(channel=index.channel)
        before = store.read(path)
        if before is None or before.data != data:
            signed_write(store, path, data, before, signer.sign_detached(data))
            result.written.append(path)
    listed = {i.channel: i for i in indexes}
    site = pages.pages(
        list(listed.values()), _sha256(snapshot_bytes), set(manifests), [fingerprint]
    )
    for path, text in sorted(site.items(), key=lambda item: item[0] == pages.PAGE):
        _replace(store, path, text.encode(), result)  # the front page last
    for why in result.skipped:
        log.warning("%s: pages: %s", store.url, why)
    return result
