"""JSON Schemas of the config files, so editors can validate the YAML as it is typed."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from release.model.channel import Channel
from release.model.image import ImageDefinition
from release.model.target import Target
from release.model.trust import TrustFile

KINDS = ("image", "channel", "target", "trust")


def schema(kind: str) -> dict[str, Any]:
    adapters: dict[str, TypeAdapter[Any]] = {
        "image": TypeAdapter(ImageDefinition),
        "channel": TypeAdapter(Channel),
        "target": TypeAdapter(Target),
        "trust": TypeAdapter(TrustFile),
    }
    out = adapters[kind].json_schema()
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    out["$id"] = f"https://image-release.invalid/schema/{kind}.schema.json"
    return out
