"""The shared pieces of the model: sizes, durations, versions and their order, the base class.

tests/hostile/test_properties.py throws arbitrary values at parse_size and parse_duration;
here each accepted spelling and each refusal is written out."""

from __future__ import annotations

import re
import subprocess

import pytest
from pydantic import TypeAdapter

from release.model.base import (
    ByteSize,
    Duration,
    check_version,
    parse_duration,
    parse_size,
    version_key,
)

GiB = 1024**3
MiB = 1024**2


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("8GiB", 8 * GiB),
        ("512MiB", 512 * MiB),
        ("512M", 512 * MiB),
        ("64KiB", 64 * 1024),
        ("2TiB", 2 * 1024**4),
        ("8 GiB", 8 * GiB),  # one space between number and unit
        (" 8GiB\n", 8 * GiB),  # surrounding whitespace, as YAML block scalars leave it
        ("4096", 4096),
        (4096, 4096),
        (1, 1),
    ],
)
def test_sizes_accepted(value: object, size: int) -> None:
    assert parse_size(value) == size


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("8GB", "'8GB' is a decimal unit: write 8GiB (binary units only)"),
        ("512MB", "'512MB' is a decimal unit: write 512MiB (binary units only)"),
        ("8 gigs", "'8 gigs' is not a size"),
        ("8gib", "'8gib' is not a size"),  # units are capitals, as qemu-img writes them
        ("8  GiB", "'8  GiB' is not a size"),
        ("1.5GiB", "'1.5GiB' is not a size"),
        ("-1GiB", "'-1GiB' is not a size"),
        ("", "'' is not a size"),
        ("0", "a size must be positive"),
        ("0GiB", "a size must be positive"),
        (0, "a size must be positive"),
        (-4096, "a size must be positive"),
        (True, "a size must be a number of bytes"),
        (8.0, "8.0 is not a size"),
        (None, "None is not a size"),
    ],
)
def test_sizes_refused(value: object, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_size(value)
    assert str(refused.value).startswith(message)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("45s", 45),
        ("90m", 5400),
        ("12h", 43200),
        ("30d", 2592000),
        ("2w", 1209600),
        (" 7d ", 604800),
        (3600, 3600),
    ],
)
def test_durations_accepted(value: object, seconds: int) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    "value",
    ["0d", "30", "30 d", "30D", "1.5h", "d", "", "-1d", "1y", 0, -60, True, False, 1.5, None],
)
def test_durations_refused(value: object) -> None:
    with pytest.raises(ValueError) as refused:
        parse_duration(value)
    assert str(refused.value) == f"{value!r} is not a duration: write e.g. 30d, 12h, 90m or 2w"


@pytest.mark.parametrize(
    "version",
    ["7.9.2009.2", "6.10.2", "0", "1.0.0-rc1", "2026.12+build.3", "1.0~beta", "1_2", "9" * 64],
)
def test_versions_accepted(version: str) -> None:
    assert check_version(version) == version


@pytest.mark.parametrize(
    "version",
    [
        "v1.0",
        "latest",
        ".1",
        "-1",
        "1..2",
        "1/2",
        "1 0",
        "1\n",
        "1:2",
        "",
        "9" * 65,
        "\u0661.\u0660",
    ],  # Arabic-Indic digits,
)
def test_versions_refused(version: str) -> None:
    with pytest.raises(ValueError) as refused:
        check_version(version)
    assert str(refused.value) == (
        f"version {version!r} must start with a digit and use only letters, digits and . _ + ~ -"
    )


def test_versions_order_numerically_not_as_text() -> None:
    assert sorted(["7.10", "7.9"], key=version_key) == ["7.9", "7.10"]
    assert sorted(["7.9.2009.10", "7.9.2009.2", "7.9.2009.1"], key=version_key) == [
        "7.9.2009.1",
        "7.9.2009.2",
        "7.9.2009.10",
    ]
    assert sorted(["10.0", "9.99", "1.100"], key=version_key) == ["1.100", "9.99", "10.0"]


def test_versions_order_like_rpm() -> None:
    assert version_key("1.0") < version_key("1.0.1")  # more parts: newer
    assert version_key("1.0a") < version_key("1.0.1")  # a number beats letters
    assert version_key("1.0a") < version_key("1.0b")
    assert version_key("1.0") < version_key("1.0rc1")  # as in rpm: a suffix is newer
    assert version_key("1.01") == version_key("1.1")  # leading zeros do not count
    assert version_key("7.9.2009") == version_key("7-9_2009")  # separators only separate


def test_a_tilde_sorts_before_the_release_as_in_rpm() -> None:
    assert version_key("1.0~rc1") < version_key("1.0")
    assert version_key("1.0~rc1") < version_key("1.0~rc2")
    assert version_key("1.0~~") < version_key("1.0~")
    assert sorted(["7.9.2009", "7.9.2009~beta", "7.9.2009.1"], key=version_key) == [
        "7.9.2009~beta",
        "7.9.2009",
        "7.9.2009.1",
    ]


# Pairs of valid versions (check_version) that probe every kind of segment; rpm's own
# vercmp, asked through rpm's Lua, is the oracle.
VERSIONS = [
    "1", "1.0", "1.00", "1.0.0", "1.01", "1.0a", "1.0b", "1.0rc1", "1.0rc10", "1.0~rc1",
    "1.0~rc2", "1.0~", "1.0~~", "1.0.1", "1_0", "1+0", "2", "10", "9.99", "7.9.2009",
    "7.9.2009.2", "7.9.2009.10", "7.9.2009~b1", "6.10.2", "1a", "1A", "1.a1", "1.1a~x",
]  # fmt: skip


def _rpm_vercmp(pairs: list[tuple[str, str]]) -> list[int]:
    calls = " ".join(f'print(rpm.vercmp("{a}", "{b}"), " ")' for a, b in pairs)
    out = subprocess.run(
        ["rpm", "--eval", f"%{{lua: {calls}}}"], capture_output=True, text=True, check=True
    ).stdout
    return [int(word) for word in out.split()]


def test_version_order_agrees_with_rpm_vercmp() -> None:
    pairs = [(a, b) for a in VERSIONS for b in VERSIONS]
    for version in VERSIONS:
        check_version(version)
    ours = [(version_key(a) > version_key(b)) - (version_key(a) < version_key(b)) for a, b in pairs]
    theirs = _rpm_vercmp(pairs)
    assert len(theirs) == len(pairs)
    assert [p for p, o, t in zip(pairs, ours, theirs, strict=True) if o != t] == []


SCHEMA_SIZE = TypeAdapter(ByteSize).json_schema()["anyOf"][1]["pattern"]
SCHEMA_DURATION = TypeAdapter(Duration).json_schema()["anyOf"][1]["pattern"]


@pytest.mark.parametrize(
    ("text", "size"),
    [("8GiB", 8 * GiB), ("8G", 8 * GiB), ("8 GiB", 8 * GiB), ("4096", 4096), ("4096B", 4096),
     ("8iB", None), ("8GB", None), ("\u0668GiB", None), ("G", None)],
)  # fmt: skip
def test_a_size_the_schema_accepts_is_one_the_tool_accepts(text: str, size: int | None) -> None:
    """An editor that checks the JSON Schema flags exactly what `release check` refuses."""
    assert (re.fullmatch(SCHEMA_SIZE.strip("^$"), text) is not None) == (size is not None)
    if size is None:
        with pytest.raises(ValueError):
            parse_size(text)
    else:
        assert parse_size(text) == size


@pytest.mark.parametrize(
    ("text", "seconds"), [("30d", 30 * 86400), ("2w", 14 * 86400), ("\u0663d", None), ("3", None)]
)
def test_a_duration_the_schema_accepts_is_one_the_tool_accepts(
    text: str, seconds: int | None
) -> None:
    assert (re.fullmatch(SCHEMA_DURATION.strip("^$"), text) is not None) == (seconds is not None)
    if seconds is None:
        with pytest.raises(ValueError):
            parse_duration(text)
    else:
        assert parse_duration(text) == seconds
