"""A channel names exactly one source of its release: a `version` (or `latest`) or a `follow`."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from release.model.channel import Channel
from tests.model.kit import ROOT, only, refusal, shipped

EXACTLY_ONE = (
    "Value error, give exactly one of `version` (e.g. 7.9.2009.1 or latest) and `follow`"
    " (a channel)"
)


def _channel(**fields: object) -> dict[str, object]:
    return {"name": "el7-stable", "image": "centos-7-genericcloud", **fields}


def test_a_pinned_channel_and_its_defaults() -> None:
    channel = Channel.model_validate(_channel(version="7.9.2009.2"))
    assert channel.version == "7.9.2009.2" and channel.follow is None
    assert channel.description == ""
    assert channel.targets == ("local",)
    assert channel.keys == ()
    assert channel.index_ttl == 30 * 24 * 3600


def test_latest_and_follow_are_sources_too() -> None:
    assert Channel.model_validate(_channel(version="latest")).version == "latest"
    follower = Channel.model_validate(_channel(follow="el7-testing"))
    assert (follower.version, follower.follow) == (None, "el7-testing")


@pytest.mark.parametrize(
    "fields", [{}, {"version": "7.9.2009.2", "follow": "el7-testing"}, {"version": None}]
)
def test_exactly_one_source(fields: dict[str, object]) -> None:
    assert only(Channel, _channel(**fields)) == ((), EXACTLY_ONE)


def test_the_ttl_takes_a_duration() -> None:
    assert Channel.model_validate(_channel(version="latest", index_ttl="7d")).index_ttl == 604800
    loc, message = only(Channel, _channel(version="latest", index_ttl="a week"))
    assert loc == ("index_ttl",) and "'a week' is not a duration" in message


def test_a_bad_version_is_refused_at_version() -> None:
    errors = refusal(Channel, _channel(version="Latest"))
    assert errors and {error["loc"][0] for error in errors} == {"version"}
    assert any("version 'Latest' must start with a digit" in e["msg"] for e in errors)


@pytest.mark.parametrize(
    ("fields", "loc", "problem"),
    [
        ({"name": "el7/stable"}, ("name",), "name 'el7/stable' contains a path separator"),
        ({"image": "centos 7"}, ("image",), "name 'centos 7' contains whitespace"),
        ({"follow": ".."}, ("follow",), "name '..' contains '..'"),
        ({"targets": ["local", "s3\n"]}, ("targets", 1), "name 's3\\n' contains whitespace"),
        ({"keys": ["-k"]}, ("keys", 0), "name '-k' must start with a letter or digit"),
    ],
)
def test_names_are_checked_where_they_are(
    fields: dict[str, object], loc: tuple[object, ...], problem: str
) -> None:
    data = {**_channel(version="latest"), **fields}
    if "follow" in fields:
        del data["version"]
    got_loc, message = only(Channel, data)
    assert got_loc == loc and message.startswith(f"Value error, {problem}")


def test_unknown_keys_are_refused_by_name() -> None:
    errors = refusal(Channel, _channel(version="latest", verison="1.0"))
    assert [(e["loc"], e["type"]) for e in errors] == [(("verison",), "extra_forbidden")]


def test_a_channel_is_frozen() -> None:
    channel = Channel.model_validate(_channel(version="latest"))
    with pytest.raises(ValidationError, match="frozen"):
        channel.version = "1.0"  # type: ignore[misc]


@pytest.mark.parametrize("path", sorted((ROOT / "channels").glob("*.yaml")), ids=lambda p: p.name)
def test_the_shipped_channels_validate(path: Path) -> None:
    data = shipped(f"channels/{path.name}")
    channel = Channel.model_validate({**data, "name": path.stem})
    assert channel.targets == ("local",)
    assert channel.version in ("latest", "6.10.2", "7.9.2009.2")
