"""Shared pieces of the typed config model: the frozen base class, names, sizes, durations."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, WithJsonSchema

from release.names import check_name


class Model(BaseModel):
    """Immutable, rejects unknown keys: an invalid definition cannot be constructed."""

    model_config = ConfigDict(frozen=True, extra="forbid")


Name = Annotated[str, AfterValidator(check_name)]

_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"([0-9]+)\s?([KMGT]?)(iB|B)?")  # ASCII digits, as the schema says


def parse_size(value: object) -> int:
    """`8GiB`, `512M` (binary units, as qemu-img reads them) or a whole number of bytes."""
    if isinstance(value, bool):
        raise ValueError("a size must be a number of bytes or like 8GiB, 512MiB")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError("a size must be positive")
        return value
    if isinstance(value, str):
        match = _SIZE.fullmatch(value.strip())
        if match:
            number, unit, suffix = match.groups()
            if suffix == "B" and unit:
                raise ValueError(
                    f"{value!r} is a decimal unit: write {number}{unit}iB (binary units only)"
                )
            if suffix == "iB" and not unit:
                raise ValueError(f"{value!r} has no unit: write {number}KiB, {number}MiB, ...")
            size = int(number) * _UNITS[unit]
            if size <= 0:
                raise ValueError("a size must be positive")
            return size
    raise ValueError(
        f"{value!r} is not a size: write a number with KiB, MiB, GiB or TiB, e.g. 8GiB"
    )


ByteSize = Annotated[
    int,
    BeforeValidator(parse_size),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "pattern": r"^[0-9]+\s?([KMGT](iB)?|B)?$"},
            ],
            "description": "bytes, or a number with K/M/G/T or KiB/MiB/GiB/TiB (binary)",
            "examples": ["8GiB", "512MiB"],
        }
    ),
]

_DURATION = re.compile(r"([0-9]+)([smhdw])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: object) -> int:
    """`30d`, `12h`, `90m`, `2w` or a whole number of seconds; returns seconds."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        match = _DURATION.fullmatch(value.strip())
        if match and int(match.group(1)) > 0:
            return int(match.group(1)) * _SECONDS[match.group(2)]
    raise ValueError(f"{value!r} is not a duration: write e.g. 30d, 12h, 90m or 2w")


Duration = Annotated[
    int,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "pattern": r"^[0-9]+[smhdw]$"},
            ],
            "description": "seconds, or a number with s, m, h, d or w",
            "examples": ["30d", "12h"],
        }
    ),
]

_VERSION = re.compile(r"[0-9][0-9A-Za-z._+~-]{0,63}")


def check_version(value: str) -> str:
    if not _VERSION.fullmatch(value) or ".." in value:
        raise ValueError(
            f"version {value!r} must start with a digit and use only letters, digits and . _ + ~ -"
        )
    return value


Version = Annotated[str, AfterValidator(check_version)]


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Order versions like rpm does: numeric runs compare as numbers and beat letters, and a
    `~` sorts before anything, the end of the version included (`1.0~rc1` < `1.0`)."""
    parts = re.findall(r"~|\d+|[A-Za-z]+", version)
    key = [(0, 0) if p == "~" else (3, int(p)) if p.isdigit() else (2, p) for p in parts]
    return (*key, (1, 0))  # the end: after a `~`, before any more letters or digits
