"""What reconcile did to each (channel, target): the parts of its result.

`in_sync` gives the outcomes of what the decision found in place (pure); `apply.py` adds one
per (channel, target) it publishes to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from release.channels.differences import Desired, Observed, Pending
from release.publish.registry import ImageResult

Status = Literal["up-to-date", "published", "failed"]


@dataclass(frozen=True)
class TargetOutcome:
    target: str
    status: Status
    serial: int | None = None  # of the channel index (mirror targets)
    detail: str = ""
    images: dict[str, str] = field(default_factory=dict)  # registries: region/project -> image


@dataclass
class ChannelOutcome:
    channel: str
    image: str
    version: str
    targets: list[TargetOutcome] = field(default_factory=list)
    release_dir: str | None = None
    built: bool = False  # a release was made in this run (not reused)


def in_sync(want: Desired, observed: Observed, pending: list[Pending]) -> list[ChannelOutcome]:
    """One outcome per channel, naming the targets that already hold what git asks for."""
    differ = {(p.channel.name, p.target_name) for p in pending}
    outcomes = []
    for wanted in want.channels:
        name, release = wanted.channel.name, wanted.release
        outcome = ChannelOutcome(name, release.image, release.version)
        for target_name in wanted.channel.targets:
            key = (name, target_name)
            if key in differ:
                continue
            if key in observed.registry:
                outcome.targets.append(registry_outcome(target_name, observed.registry[key]))
            else:
                serial = observed.indexes[key].index.serial
                outcome.targets.append(TargetOutcome(target_name, "up-to-date", serial))
        outcomes.append(outcome)
    return outcomes


def registry_outcome(target: str, found: ImageResult | Mapping[str, str]) -> TargetOutcome:
    """`published` for an image made by this run, else `up-to-date`, naming the images."""
    images = dict(found.images if isinstance(found, ImageResult) else found)
    where = ", ".join(f"{image} in {place}" for place, image in images.items())
    if isinstance(found, ImageResult) and found.created:
        return TargetOutcome(target, "published", None, f"{found.name}: {where}", images)
    return TargetOutcome(target, "up-to-date", None, where, images)
