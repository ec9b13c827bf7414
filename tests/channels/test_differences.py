"""The pure decision of reconcile: which (channel, target)s differ from what git asks for.

Every input is built by hand (indexes, snapshots, registry hits, trust verdicts), and each
test states the exact pending list it expects; nothing here reads a store or runs gpg.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import replace
from pathlib import Path

from release.channels.differences import (
    Desired,
    Observed,
    Pending,
    PublishedIndex,
    Wanted,
    differences,
    in_snapshot,
    is_rollback,
    local_target,
    retired,
)
from release.channels.index import ChannelIndex, IndexedRelease, Snapshot
from release.channels.resolve import Release
from release.model.channel import Channel
from release.model.target import AwsAmiTarget, FilesystemTarget, S3Target, Target

T0 = dt.datetime(2026, 12, 1, 12, 0, 0, tzinfo=dt.UTC)
MIRROR = FilesystemTarget(type="filesystem", path="/srv/mirror")
BUCKET = S3Target(type="s3", bucket="images")
AMI = AwsAmiTarget(type="aws-ami", regions=("eu-west-1",), bucket="staging")
TARGETS: dict[str, Target] = {"mirror": MIRROR, "bucket": BUCKET, "ami": AMI}

# Both channels list a mirror before the registry: registries must still come first.
STABLE = Channel(name="fx-stable", image="fx", version="1.0.0", targets=("mirror", "ami"))
TESTING = Channel(name="fx-testing", image="fx", version="1.1.0", targets=("bucket", "mirror"))
STABLE_AT = Release("fx", "1.0.0")
TESTING_AT = Release("fx", "1.1.0")
DESIRED = Desired((Wanted(STABLE, STABLE_AT), Wanted(TESTING, TESTING_AT)), TARGETS)


def index(channel: str, version: str, serial: int = 4) -> ChannelIndex:
    current = IndexedRelease(image="fx", version=version, path=f"fx/{version}",
                             manifest_sha256="ab" * 32)  # fmt: skip
    expires = T0 + dt.timedelta(days=30)
    return ChannelIndex(serial=serial, issued=T0, expires=expires, channel=channel,
                        current=current)  # fmt: skip


# The bytes a mirror holds stand for themselves: the decision compares their digest with the
# snapshot's and never parses them.
STABLE_BYTES = b'{"channel": "fx-stable", "version": "1.0.0"}'
TESTING_BYTES = b'{"channel": "fx-testing", "version": "1.1.0"}'
STABLE_DIGEST = hashlib.sha256(STABLE_BYTES).hexdigest()
TESTING_DIGEST = hashlib.sha256(TESTING_BYTES).hexdigest()


def snapshot(indexes: dict[str, str]) -> Snapshot:
    return Snapshot(serial=9, issued=T0, expires=T0 + dt.timedelta(days=30), indexes=indexes)


def in_sync() -> Observed:
    """Every target holds what DESIRED asks for."""
    listing = snapshot({"fx-stable": STABLE_DIGEST, "fx-testing": TESTING_DIGEST})
    return Observed(
        indexes={
            ("fx-stable", "mirror"): PublishedIndex(STABLE_BYTES, index("fx-stable", "1.0.0")),
            ("fx-testing", "bucket"): PublishedIndex(TESTING_BYTES, index("fx-testing", "1.1.0")),
            ("fx-testing", "mirror"): PublishedIndex(TESTING_BYTES, index("fx-testing", "1.1.0")),
        },
        snapshots={"mirror": listing, "bucket": snapshot({"fx-testing": TESTING_DIGEST})},
        trusted=frozenset(
            {("fx-stable", "mirror"), ("fx-testing", "bucket"), ("fx-testing", "mirror")}
        ),
        registry={("fx-stable", "ami"): {"eu-west-1": "ami-0123"}},
    )


def test_nothing_published_gives_every_target_registries_first_per_channel() -> None:
    empty = Observed(indexes={}, snapshots={}, trusted=frozenset(), registry={})
    assert differences(DESIRED, empty) == [
        Pending(STABLE, STABLE_AT, "ami", AMI),
        Pending(STABLE, STABLE_AT, "mirror", MIRROR),
        Pending(TESTING, TESTING_AT, "bucket", BUCKET),
        Pending(TESTING, TESTING_AT, "mirror", MIRROR),
    ]


def test_everything_in_place_gives_nothing() -> None:
    assert differences(DESIRED, in_sync()) == []


def test_an_index_at_another_version_differs() -> None:
    observed = in_sync()
    indexes = dict(observed.indexes)
    indexes[("fx-testing", "mirror")] = PublishedIndex(TESTING_BYTES, index("fx-testing", "1.0.0"))
    assert differences(DESIRED, replace(observed, indexes=indexes)) == [
        Pending(TESTING, TESTING_AT, "mirror", MIRROR)
    ]


def test_an_index_of_another_image_differs() -> None:
    observed = in_sync()
    elsewhere = IndexedRelease(image="gx", version="1.0.0", path="gx/1.0.0",
                               manifest_sha256="cd" * 32)  # fmt: skip
    other = index("fx-stable", "1.0.0").model_copy(update={"current": elsewhere})
    indexes = dict(observed.indexes)
    indexes[("fx-stable", "mirror")] = PublishedIndex(STABLE_BYTES, other)
    assert differences(DESIRED, replace(observed, indexes=indexes)) == [
        Pending(STABLE, STABLE_AT, "mirror", MIRROR)
    ]


def test_an_index_the_snapshot_does_not_list_differs() -> None:
    """An interrupted run wrote the index but not the snapshot: the snapshot must follow."""
    behind = snapshot(
        {"fx-stable": STABLE_DIGEST, "fx-testing": hashlib.sha256(b"older").hexdigest()}
    )
    observed = replace(in_sync(), snapshots={**in_sync().snapshots, "mirror": behind})
    assert differences(DESIRED, observed) == [Pending(TESTING, TESTING_AT, "mirror", MIRROR)]


def test_a_snapshot_that_omits_the_channel_differs() -> None:
    observed = replace(in_sync(), snapshots={**in_sync().snapshots, "bucket": snapshot({})})
    assert differences(DESIRED, observed) == [Pending(TESTING, TESTING_AT, "bucket", BUCKET)]


def test_no_trusted_snapshot_makes_every_index_on_that_mirror_differ() -> None:
    observed = replace(
        in_sync(), snapshots={"mirror": None, "bucket": in_sync().snapshots["bucket"]}
    )
    assert differences(DESIRED, observed) == [
        Pending(STABLE, STABLE_AT, "mirror", MIRROR),
        Pending(TESTING, TESTING_AT, "mirror", MIRROR),
    ]


def test_an_index_no_trusted_key_signed_differs() -> None:
    trusted = in_sync().trusted - {("fx-stable", "mirror")}
    assert differences(DESIRED, replace(in_sync(), trusted=trusted)) == [
        Pending(STABLE, STABLE_AT, "mirror", MIRROR)
    ]


def test_a_missing_index_differs_even_when_trusted_and_listed() -> None:
    indexes = {k: v for k, v in in_sync().indexes.items() if k != ("fx-testing", "bucket")}
    assert differences(DESIRED, replace(in_sync(), indexes=indexes)) == [
        Pending(TESTING, TESTING_AT, "bucket", BUCKET)
    ]


def test_a_registry_without_the_release_differs_and_its_mirror_does_not() -> None:
    """Holding a channel's indexes back when its registry fails is reconcile's business; the
    decision reports only what differs."""
    assert differences(DESIRED, replace(in_sync(), registry={})) == [
        Pending(STABLE, STABLE_AT, "ami", AMI)
    ]


def test_a_registry_hit_for_another_channel_does_not_count() -> None:
    registry = {("fx-testing", "ami"): {"eu-west-1": "ami-0123"}}
    assert differences(DESIRED, replace(in_sync(), registry=registry)) == [
        Pending(STABLE, STABLE_AT, "ami", AMI)
    ]


def test_pending_says_which_are_registries() -> None:
    assert Pending(STABLE, STABLE_AT, "ami", AMI).registry
    assert not Pending(STABLE, STABLE_AT, "mirror", MIRROR).registry
    assert not Pending(TESTING, TESTING_AT, "bucket", BUCKET).registry


def test_in_snapshot_compares_the_digest_of_the_exact_bytes() -> None:
    listing = snapshot({"fx-stable": STABLE_DIGEST})
    assert in_snapshot(listing, "fx-stable", STABLE_BYTES)
    assert not in_snapshot(listing, "fx-stable", STABLE_BYTES + b"\n")
    assert not in_snapshot(listing, "fx-testing", STABLE_BYTES)
    assert not in_snapshot(listing, "fx-stable", None)
    assert not in_snapshot(None, "fx-stable", STABLE_BYTES)


def test_retired_lists_deleted_channels_and_dropped_targets() -> None:
    channels = {"fx-stable": STABLE, "fx-testing": TESTING}
    listings = {
        "mirror": ["fx-stable", "fx-testing", "fx-old"],  # fx-old: deleted from git
        "bucket": ["fx-testing", "fx-stable"],  # fx-stable no longer publishes there
        "ami": [],
        "elsewhere": ["fx-stable", "fx-testing"],  # a target both channels dropped
    }
    assert retired(channels, listings) == {
        "bucket": ["fx-stable"],
        "elsewhere": ["fx-stable", "fx-testing"],
        "mirror": ["fx-old"],
    }


def test_retired_is_empty_when_every_listed_channel_still_publishes_there() -> None:
    channels = {"fx-stable": STABLE, "fx-testing": TESTING}
    assert retired(channels, {"mirror": ["fx-stable", "fx-testing"], "bucket": []}) == {}


def test_local_target_anchors_a_relative_filesystem_path_at_the_repo() -> None:
    repo = Path("/work/config")
    relative = FilesystemTarget(type="filesystem", path="public/mirror")
    assert local_target(relative, repo) == FilesystemTarget(
        type="filesystem", path="/work/config/public/mirror"
    )
    assert local_target(MIRROR, repo) == MIRROR
    assert local_target(BUCKET, repo) == BUCKET


def test_a_rollback_is_a_lower_version_of_the_same_image() -> None:
    published = index("fx-stable", "1.10.0")
    assert is_rollback(published, Release("fx", "1.9.0"))  # 9 < 10: versions, not strings
    assert not is_rollback(published, Release("fx", "1.10.0"))
    assert not is_rollback(published, Release("fx", "1.11.0"))
    assert not is_rollback(published, Release("gx", "1.0.0"))  # another image: a switch
