"""Gather what the targets hold, for `differences.py` to judge: the only reads reconcile makes
before it decides.

Per selected channel and target, in the channel's order: a registry is asked for the
release's images; a mirror's index is read, and its snapshot once per mirror (kept only if a
trusted key signed it). Whether a trusted key signed an index is asked only of one that points
at the release and is listed by the snapshot: a verdict may cost a gpgv, and any other index
is rewritten anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from release.channels import index as idx
from release.channels import registries
from release.channels.differences import Desired, Key, Observed, PublishedIndex, listed
from release.channels.indexwriter import parse_snapshot, read_stored_index
from release.channels.vouched import Voucher, vouched_index, vouched_snapshot, voucher
from release.model.target import Target
from release.publish.indexstore import IndexStore, Stored
from release.publish.options import Options
from release.publish.targets import holds_index, open_index_store


class _Gathered:
    """What observe has read so far, and the stores it opened (one per mirror)."""

    def __init__(self) -> None:
        self.stores: dict[str, IndexStore] = {}
        self.indexes: dict[Key, PublishedIndex] = {}
        self.snapshots: dict[str, idx.Snapshot | None] = {}
        self.trusted: set[Key] = set()
        self.registry: dict[Key, dict[str, str]] = {}

    def observed(self) -> Observed:
        return Observed(self.indexes, self.snapshots, frozenset(self.trusted), self.registry)


def observe(
    repo: Path, desired: Desired, options: Options | None, cache: Path | None = None
) -> tuple[Observed, dict[str, IndexStore]]:
    """What the targets of `desired` hold, and the index store of each mirror among them.
    Trust is judged against `repo`'s keys/, verdicts remembered in `cache` (optional)."""
    seen = _Gathered()
    with voucher(repo, cache) as judge:
        for wanted in desired.channels:
            for target_name in wanted.channel.targets:
                key = (wanted.channel.name, target_name)
                target = desired.targets[target_name]
                if isinstance(target, registries.RegistryTarget):
                    release = wanted.release
                    found = registries.find_release(target, release.image, release.version)
                    if found is not None:
                        seen.registry[key] = found
                    continue
                stored = _mirror(seen, key, target, options, judge)
                snapshot = seen.snapshots[target_name]
                if listed(seen.indexes.get(key), snapshot, key[0], wanted.release) and (
                    vouched_index(judge, seen.stores[target_name], key[0], stored)
                ):
                    seen.trusted.add(key)
    return seen.observed(), seen.stores


def _mirror(
    seen: _Gathered, key: Key, target: Target, options: Options | None, judge: Voucher
) -> Stored | None:
    """Read the channel's index on the mirror, and its snapshot the first time."""
    channel, target_name = key
    store = seen.stores.setdefault(target_name, open_index_store(target, options))
    stored, current = read_stored_index(store, channel)
    if stored is not None and current is not None:
        seen.indexes[key] = PublishedIndex(stored.data, current)
    if target_name not in seen.snapshots:  # one read per target, not per channel
        seen.snapshots[target_name] = vouched_snapshot(judge, store)
    return stored


def snapshot_listings(
    targets: Mapping[str, Target], options: Options | None
) -> dict[str, tuple[IndexStore, list[str]]]:
    """Per mirror with a snapshot: its store, and the channels the snapshot lists."""
    found = {}
    for target_name, target in sorted(targets.items()):
        if not holds_index(target):
            continue
        store = open_index_store(target, options)
        stored = store.read(idx.SNAPSHOT_PATH)
        if stored is None:
            continue
        found[target_name] = (store, list(parse_snapshot(store, stored.data).indexes))
    return found


def vouched_now(repo: Path, store: IndexStore, channel: str, stored: Stored | None) -> bool:
    """Whether the stored index is signed by a key trusted now (checked afresh: this is the
    rare path of an index another or an interrupted run wrote)."""
    with voucher(repo) as judge:
        return vouched_index(judge, store, channel, stored)


def vouched_snapshot_now(repo: Path, store: IndexStore) -> idx.Snapshot | None:
    with voucher(repo) as judge:
        return vouched_snapshot(judge, store)
