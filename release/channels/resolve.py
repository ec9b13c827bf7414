"""Which release a channel gives its users: pure functions over the loaded model.

A channel pins a version, says `latest` (the image definition's current version) or follows
another channel. Resolution never touches git: it reads model objects only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from release.errors import InvalidInput
from release.model.channel import LATEST, Channel
from release.model.image import ImageDefinition


@dataclass(frozen=True, order=True)
class Release:
    """One released build of an image: what a channel points at."""

    image: str
    version: str

    def __str__(self) -> str:
        return f"{self.image} {self.version}"


class Unresolved(InvalidInput):
    """A channel that leads to no release: an unknown channel or image, or a follow cycle."""


def resolve(
    name: str, channels: Mapping[str, Channel], images: Mapping[str, ImageDefinition]
) -> Release:
    """The release channel `name` points at, following `follow` links to a pinned or latest one."""
    seen: list[str] = []
    current = name
    while True:
        channel = channels.get(current)
        if channel is None:
            via = f" (followed from {' -> '.join(seen)})" if seen else ""
            raise Unresolved(f"unknown channel {current!r}{via}")
        if current in seen:
            raise Unresolved(f"channels follow in a cycle: {' -> '.join([*seen, current])}")
        seen.append(current)
        if channel.follow is not None:
            current = channel.follow
            continue
        return _pinned(channel, images)


def _pinned(channel: Channel, images: Mapping[str, ImageDefinition]) -> Release:
    if channel.version != LATEST and channel.version is not None:
        return Release(channel.image, channel.version)
    image = images.get(channel.image)
    if image is None:
        raise Unresolved(f"channel {channel.name!r} is for unknown image {channel.image!r}")
    return Release(image.name, image.version)


def resolve_all(
    channels: Mapping[str, Channel], images: Mapping[str, ImageDefinition]
) -> dict[str, Release]:
    """Every channel's release, by channel name."""
    return {name: resolve(name, channels, images) for name in sorted(channels)}


def is_pinned(channel: Channel) -> bool:
    """A channel that names its version itself (not `latest`, not following another channel)."""
    return channel.version not in (None, LATEST)
