"""Channels, `channels/<name>.yaml`: which release of which image users of the channel get."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from release.model.base import Duration, Model, Name, Version
from release.model.target import DEFAULT_TARGET_NAME

LATEST = "latest"


class Channel(Model):
    """Exactly one of `version` (a pinned version, or `latest`) and `follow` (another channel)."""

    name: Name
    description: str = ""
    image: Name
    version: Version | Literal["latest"] | None = None
    follow: Name | None = None
    targets: tuple[Name, ...] = (DEFAULT_TARGET_NAME,)
    keys: tuple[Name, ...] = ()  # trust-file key names that may sign; empty: the trust file decides
    index_ttl: Duration = 30 * 86400  # how long a signed channel index stays valid

    @model_validator(mode="after")
    def _one_source(self) -> Channel:
        if (self.version is None) == (self.follow is None):
            raise ValueError(
                "give exactly one of `version` (e.g. 7.9.2009.1 or latest) and `follow` (a channel)"
            )
        return self
