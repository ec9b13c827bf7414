"""`release plan`: what releasing `head` does, compared with `base` (by default the last release).

`compare` is pure: two loaded states in, a `Plan` out. `plan` is the IO edge: it finds the
revisions and loads them from git.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from release.channels.resolve import Release, is_pinned, resolve_all
from release.channels.state import StateInvalid, empty_state, last_released, load_state
from release.config.loader import ConfigRepo
from release.model.base import version_key
from release.model.channel import Channel


@dataclass(frozen=True)
class Build:
    """One variant of one image version to build (the unit of the build fan-out)."""

    image: str
    version: str
    variant: str


@dataclass(frozen=True)
class Publish:
    """A channel whose release or targets changed: its release and index go to its targets."""

    channel: str
    release: Release
    previous: Release | None  # None: a new channel
    targets: tuple[str, ...]
    reasons: tuple[str, ...]  # "new", "release", "targets"


@dataclass(frozen=True)
class Promotion:
    """A pinned channel now pinned to the release another channel had at the base."""

    channel: str
    release: Release
    previous: Release | None
    source: str  # the channel that had the release


@dataclass(frozen=True)
class Rollback:
    """A channel whose release went back to an older version of the same image (no rebuild)."""

    channel: str
    release: Release
    previous: Release


@dataclass(frozen=True)
class IndexUpdate:
    """A channel index (channels/<channel>.json) to rewrite and re-sign on these targets."""

    channel: str
    targets: tuple[str, ...]
    reason: str  # "publish", "keys", "ttl", "retired" (channel deleted or target dropped)


@dataclass(frozen=True)
class Plan:
    base: str | None  # the base revision (commit id); None: nothing was released yet
    head: str | None
    base_ref: str | None = None  # what named the base (a tag, a branch), for humans
    head_ref: str | None = None
    builds: tuple[Build, ...] = ()
    publishes: tuple[Publish, ...] = ()
    promotions: tuple[Promotion, ...] = ()
    rollbacks: tuple[Rollback, ...] = ()
    index_updates: tuple[IndexUpdate, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not (self.builds or self.publishes or self.index_updates)

    @property
    def snapshot_targets(self) -> tuple[str, ...]:
        """Targets whose channels/snapshot.json changes (every target of an index update)."""
        return tuple(sorted({t for update in self.index_updates for t in update.targets}))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["empty"] = self.empty
        data["snapshot_targets"] = list(self.snapshot_targets)
        return data

    def build_matrix(self) -> dict[str, list[dict[str, str]]]:
        """GitHub Actions `strategy.matrix`: one job per image variant to build."""
        return {"include": [asdict(build) for build in self.builds]}

    def channel_matrix(self) -> dict[str, list[dict[str, str]]]:
        """GitHub Actions `strategy.matrix`: one job per channel whose index changes."""
        channels = sorted({u.channel for u in self.index_updates if u.reason != "retired"})
        return {"include": [{"channel": name} for name in channels]}


def plan(
    repo: str = ".", base: str | None = None, head: str = "HEAD", *, empty_base: bool = False
) -> Plan:
    """Load `head` and `base` (default: the last release tag, else the empty state) and compare.

    `empty_base` compares with the empty state whatever the tags say (a first release).
    """
    head_state = load_state(repo, head)
    base_ref = None if empty_base else (base or last_released(repo, head))
    base_state = _load_base(repo, base_ref) if base_ref else empty_state()
    return compare(base_state, head_state, base_ref=base_ref, head_ref=head)


def _load_base(repo: str, ref: str) -> ConfigRepo:
    try:
        return load_state(repo, ref)
    except StateInvalid as exc:
        exc.args = (
            f"{exc}\nthe base does not validate: give another --base, or --empty-base to"
            " plan as a first release",
        )
        raise


def compare(
    base: ConfigRepo,
    head: ConfigRepo,
    *,
    base_ref: str | None = None,
    head_ref: str | None = None,
) -> Plan:
    """The actions that take the world from `base` to `head`. Pure."""
    old = resolve_all(_channels(base), base.frozen_images())
    new = resolve_all(_channels(head), head.frozen_images())
    builds, warnings = _builds(base, head)
    publishes = tuple(_publishes(base, head, old, new))
    return Plan(
        base=base.revision,
        head=head.revision,
        base_ref=base_ref,
        head_ref=head_ref,
        builds=builds,
        publishes=publishes,
        promotions=tuple(_promotions(base, head, old, new)),
        rollbacks=tuple(_rollbacks(old, new)),
        index_updates=tuple(_index_updates(base, head, publishes)),
        warnings=tuple(warnings),
    )


def _channels(state: ConfigRepo) -> dict[str, Channel]:
    return {name: loaded.value for name, loaded in state.channels.items()}


def _builds(base: ConfigRepo, head: ConfigRepo) -> tuple[tuple[Build, ...], list[str]]:
    builds: list[Build] = []
    warnings: list[str] = []
    for name in sorted(head.images):
        image = head.image(name)
        before = base.images.get(name)
        if before is not None and before.value == image:
            continue  # only a comment or the layout changed: the model is the same
        if before is not None and before.value.version == image.version:
            warnings.append(
                f"image {name}: the definition changed but its version is still"
                f" {image.version}; nothing is rebuilt (bump the version to release it)"
            )
            continue
        builds.extend(Build(name, image.version, variant) for variant in sorted(image.variants))
    return tuple(builds), warnings


def _publishes(
    base: ConfigRepo, head: ConfigRepo, old: dict[str, Release], new: dict[str, Release]
) -> list[Publish]:
    found = []
    for name, release in new.items():
        channel = head.channel(name)
        before = base.channels.get(name)
        reasons = []
        if before is None:
            reasons.append("new")
        else:
            if old[name] != release:
                reasons.append("release")
            if set(before.value.targets) != set(channel.targets):
                reasons.append("targets")
        if reasons:
            found.append(Publish(name, release, old.get(name), channel.targets, tuple(reasons)))
    return found


def _promotions(
    base: ConfigRepo, head: ConfigRepo, old: dict[str, Release], new: dict[str, Release]
) -> list[Promotion]:
    found = []
    for name, release in new.items():
        previous = old.get(name)
        if (
            not is_pinned(head.channel(name))
            or previous == release
            or _went_down(previous, release)
        ):
            continue
        sources = sorted(other for other, had in old.items() if had == release and other != name)
        if sources:
            found.append(Promotion(name, release, previous, _best_source(base, sources)))
    return found


def _best_source(base: ConfigRepo, sources: list[str]) -> str:
    """Prefer a channel that took the release unpinned (a testing channel on `latest`)."""
    unpinned = [s for s in sources if not is_pinned(base.channel(s))]
    return (unpinned or sources)[0]


def _rollbacks(old: dict[str, Release], new: dict[str, Release]) -> list[Rollback]:
    found = []
    for name, release in new.items():
        previous = old.get(name)
        if previous is not None and _went_down(previous, release):
            found.append(Rollback(name, release, previous))
    return found


def _went_down(previous: Release | None, release: Release) -> bool:
    return (
        previous is not None
        and previous.image == release.image
        and version_key(release.version) < version_key(previous.version)
    )


def _index_updates(
    base: ConfigRepo, head: ConfigRepo, publishes: tuple[Publish, ...]
) -> list[IndexUpdate]:
    published = {p.channel for p in publishes}
    updates = [IndexUpdate(p.channel, p.targets, "publish") for p in publishes]
    for name in sorted(head.channels):
        before = base.channels.get(name)
        if before is None:
            continue
        channel, was = head.channel(name), before.value
        dropped = tuple(sorted(set(was.targets) - set(channel.targets)))
        if dropped:
            updates.append(IndexUpdate(name, dropped, "retired"))  # gone from those targets
        if name in published:
            continue
        if channel.keys != was.keys:
            updates.append(IndexUpdate(name, channel.targets, "keys"))
        elif channel.index_ttl != was.index_ttl:
            updates.append(IndexUpdate(name, channel.targets, "ttl"))
    for name in sorted(set(base.channels) - set(head.channels)):
        updates.append(IndexUpdate(name, base.channel(name).targets, "retired"))
    return updates
