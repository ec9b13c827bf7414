"""`release status`: per channel and target, what git asks for against what is published.

The comparison is reconcile's own (`reconcile.compare`, read-only); this module adds what a
person wants to see beside it: the published index's serial, version and expiry, the images
a registry holds, and the action reconcile (or resign) would take. `rows` is pure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from release.channels import index as idx
from release.channels.differences import local_target
from release.channels.indexwriter import Clock, read_index, utcnow
from release.channels.reconcile import ReconcileResult, compare
from release.channels.state import load_state
from release.publish.options import Options
from release.publish.targets import holds_index, open_index_store


@dataclass(frozen=True)
class Published:
    """What a mirror's channel index says now."""

    version: str
    serial: int
    expires: dt.datetime


@dataclass(frozen=True)
class Row:
    channel: str
    target: str
    desired: str  # "<image> <version>", or "" for a channel being retired
    published: str  # the version the index names, the registry's images, or ""
    serial: int | None
    expires: str | None  # RFC 3339
    expires_in: str  # "6d 23h", "expired", ""
    images: dict[str, str] = field(default_factory=dict)
    drift: bool = False
    action: str = "nothing"


@dataclass
class Status:
    revision: str
    rows: list[Row] = field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        return not any(row.drift for row in self.rows)

    def to_dict(self) -> dict[str, object]:
        return {
            "revision": self.revision,
            "in_sync": self.in_sync,
            "rows": [asdict(row) for row in self.rows],
        }


def left(expires: dt.datetime, now: dt.datetime) -> str:
    """Time until `expires`, to the hour ("expired" once past)."""
    seconds = int((expires - now).total_seconds())
    if seconds <= 0:
        return "expired"
    days, rest = divmod(seconds, 86400)
    return f"{days}d {rest // 3600}h" if days else f"{rest // 3600}h {rest % 3600 // 60}m"


def _action(published: Published | None, version: str, registry: bool) -> str:
    if registry:
        return f"import {version}"
    if published is None:
        return f"publish {version} (first index)"
    if published.version != version:
        return f"publish {version} (serial {published.serial + 1})"
    return "write the snapshot (an interrupted run left the index outside it)"


def rows(
    result: ReconcileResult,
    differ: set[tuple[str, str, bool]],
    retiring: Mapping[str, Sequence[str]],
    published: Mapping[tuple[str, str], Published | None],
    now: dt.datetime,
) -> list[Row]:
    """One row per (channel, target), then one per channel a target's snapshot would retire.
    `differ` holds (channel, target, registry) as reconcile found them; `published` the
    mirror indexes read."""
    found = []
    for channel in result.channels:
        desired = f"{channel.image} {channel.version}"
        in_sync = {t.target: t for t in channel.targets}
        targets = sorted({*in_sync, *(t for c, t, _ in differ if c == channel.channel)})
        for target in targets:
            registry = (channel.channel, target, True) in differ
            drifted = registry or (channel.channel, target, False) in differ
            index = published.get((channel.channel, target))
            images = dict(in_sync[target].images) if target in in_sync else {}
            shown = index.version if index else ", ".join(images.values())
            expires = index.expires if index else None
            action = _action(index, channel.version, registry) if drifted else "nothing"
            if not drifted and expires is not None and expires <= now:
                drifted, action = True, "release resign (the index expired)"
            found.append(
                Row(
                    channel.channel,
                    target,
                    desired,
                    shown,
                    index.serial if index else None,
                    idx.rfc3339(expires) if expires else None,
                    left(expires, now) if expires else "",
                    images,
                    drifted,
                    action,
                )
            )
    for target, gone in sorted(retiring.items()):
        for channel_name in gone:
            action = "retire: drop its index from the snapshot"
            found.append(Row(channel_name, target, "", "", None, None, "", {}, True, action))
    return found


def status(repo: Path, *, options: Options | None = None, clock: Clock = utcnow) -> Status:
    """Compare HEAD of `repo` with every target, reading only."""
    repo = Path(repo).absolute()
    config = load_state(str(repo), "HEAD")
    result, differ, retiring = compare(repo, config, options)
    published: dict[tuple[str, str], Published | None] = {}
    for name, loaded in sorted(config.channels.items()):
        for target_name in loaded.value.targets:
            target = local_target(config.targets[target_name], repo)
            if not holds_index(target):
                continue
            index = read_index(open_index_store(target, options), name)
            published[(name, target_name)] = (
                Published(index.current.version, index.serial, index.expires) if index else None
            )
    keys = {(d.channel, d.target, d.registry) for d in differ}
    return Status(result.revision, rows(result, keys, retiring, published, clock()))
