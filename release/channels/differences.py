"""What reconcile must do, decided from what it saw: pure functions, no IO.

`desired` is what git asks for (each selected channel's release, and the targets by name);
`Observed` is what the targets hold, gathered by `observe.py`: the published index of each
(channel, mirror) as bytes and parsed, each mirror's snapshot if a trusted key signed it, which
indexes a trusted key signed, and the images each registry holds. `differences` returns every
(channel, target) to publish to, in the order reconcile goes: per channel, registry targets
first (a failed one holds the channel's indexes back), then mirrors. `retired` says which
channels a mirror's snapshot lists that no longer publish there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from release.channels import index as idx
from release.channels.registries import REGISTRY_TYPES
from release.channels.resolve import Release, resolve
from release.config.loader import ConfigRepo
from release.errors import InvalidInput
from release.model.base import version_key
from release.model.channel import Channel
from release.model.target import FilesystemTarget, Target

Key = tuple[str, str]  # (channel, target)


@dataclass(frozen=True)
class Wanted:
    """One channel as git asks for it: the release it points at."""

    channel: Channel
    release: Release


@dataclass(frozen=True)
class Desired:
    """The selected channels, in the order reconcile goes, and every target by name."""

    channels: tuple[Wanted, ...]
    targets: Mapping[str, Target]  # a filesystem target's path made absolute


@dataclass(frozen=True)
class PublishedIndex:
    """A channel index as a mirror holds it: the exact bytes, and parsed."""

    data: bytes
    index: idx.ChannelIndex


@dataclass(frozen=True)
class Observed:
    """What the targets hold. A key missing from `indexes` or `registry`: nothing there."""

    indexes: Mapping[Key, PublishedIndex]
    snapshots: Mapping[str, idx.Snapshot | None]  # per mirror; None: none a trusted key signed
    trusted: frozenset[Key]  # the indexes a key the trust file allows now signed
    registry: Mapping[Key, Mapping[str, str]]  # the release's images: region/project -> image


@dataclass(frozen=True)
class Pending:
    """A (channel, target) to publish to: a registry imports an image, a mirror gets the
    release, then its index and snapshot."""

    channel: Channel
    release: Release
    target_name: str
    target: Target

    @property
    def registry(self) -> bool:
        return is_registry(self.target)


def is_registry(target: Target) -> bool:
    return isinstance(target, REGISTRY_TYPES)


def selected_channels(config: ConfigRepo, channels: Sequence[str] | None) -> list[str]:
    if channels is None:
        return sorted(config.channels)
    unknown = [c for c in channels if c not in config.channels]
    if unknown:
        known = ", ".join(sorted(config.channels)) or "none"
        raise InvalidInput(f"unknown channel {', '.join(unknown)} (channels at HEAD: {known})")
    return list(dict.fromkeys(channels))


def local_target(target: Target, repo: Path) -> Target:
    """A filesystem target's relative path is relative to the config repo's root."""
    if isinstance(target, FilesystemTarget) and not Path(target.path).is_absolute():
        return target.model_copy(update={"path": str(repo / target.path)})
    return target


def desired(config: ConfigRepo, names: Sequence[str], repo: Path) -> Desired:
    """The releases channels `names` point at in `config`, and its targets (`repo`: where
    a relative filesystem target lies)."""
    images = config.frozen_images()
    channels = {name: loaded.value for name, loaded in config.channels.items()}
    wanted = tuple(Wanted(channels[name], resolve(name, channels, images)) for name in names)
    targets = {name: local_target(t, repo) for name, t in config.targets.items()}
    return Desired(wanted, targets)


def points_at(index: idx.ChannelIndex, release: Release) -> bool:
    return (index.current.image, index.current.version) == (release.image, release.version)


def in_snapshot(snapshot: idx.Snapshot | None, channel: str, data: bytes | None) -> bool:
    """Whether the snapshot lists the channel's index as stored (`data`). A writer killed
    between the index and the snapshot leaves an index no client accepts until the snapshot
    follows."""
    if data is None or snapshot is None:
        return False
    return snapshot.indexes.get(channel) == idx.sha256_hex(data)


def listed(
    found: PublishedIndex | None, snapshot: idx.Snapshot | None, channel: str, release: Release
) -> bool:
    """The mirror's index of `channel` points at `release` and its snapshot lists those
    bytes: in place once a trusted key is found to have signed it (the one verdict that may
    cost a gpgv, so observe asks it of such an index only)."""
    return (
        found is not None
        and points_at(found.index, release)
        and in_snapshot(snapshot, channel, found.data)
    )


def in_place(observed: Observed, key: Key, release: Release) -> bool:
    """The mirror's index is listed, and signed by a key the trust file allows now."""
    found = observed.indexes.get(key)
    channel, target = key
    return (
        listed(found, observed.snapshots.get(target), channel, release) and key in observed.trusted
    )


def differences(desired: Desired, observed: Observed) -> list[Pending]:
    """Every (channel, target) whose registry lacks the release, or whose published index
    does not point at it, is not listed by the snapshot, or is not signed by a key the trust
    file allows now. Per channel: its registries first, then its mirrors."""
    pending = []
    for wanted in desired.channels:
        mirrors = []
        for target_name in wanted.channel.targets:
            target = desired.targets[target_name]
            key = (wanted.channel.name, target_name)
            if is_registry(target):
                if key not in observed.registry:
                    pending.append(Pending(wanted.channel, wanted.release, target_name, target))
            elif not in_place(observed, key, wanted.release):
                mirrors.append(Pending(wanted.channel, wanted.release, target_name, target))
        pending.extend(mirrors)
    return pending


def is_rollback(previous: idx.ChannelIndex, release: Release) -> bool:
    """The channel went to a lower version of the same image."""
    old = previous.current
    return old.image == release.image and version_key(release.version) < version_key(old.version)


def retired(
    channels: Mapping[str, Channel], listings: Mapping[str, Sequence[str]]
) -> dict[str, list[str]]:
    """Per mirror: the channels its snapshot lists (`listings`) that no longer publish there,
    deleted or the target dropped from the channel. Their indexes leave the snapshot, so a
    client of a retired channel is told it is no longer vouched for."""
    found = {}
    for target_name, names in sorted(listings.items()):
        gone = [n for n in names if n not in channels or target_name not in channels[n].targets]
        if gone:
            found[target_name] = gone
    return found
