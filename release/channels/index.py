"""The signed channel index, as pure data: what downstream clients trust.

`channels/<channel>.json` says which release a channel points at, with a serial that only
grows and an expiry; `channels/snapshot.json` lists the sha256 of every channel index so
indexes from different moments cannot be mixed. Signing is the integrity package's job: the
checks here take a `verify(data, signature) -> fingerprint | None` callable and only bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, PlainSerializer, ValidationError, model_validator

from release.model.base import Model, Name, Version
from release.names import check_name

SPEC_VERSION: Literal[1] = 1
HISTORY_LIMIT = 50  # earlier releases kept in an index, newest first
INDEX_PATH = "channels/{channel}.json"
SNAPSHOT_PATH = "channels/snapshot.json"
# An index holds at most HISTORY_LIMIT + 1 releases (~10 KiB); anything far larger comes from
# a hostile or broken server and is refused before the JSON parser spends memory on it.
MAX_DOCUMENT_SIZE = 1 << 20

Verify = Callable[[bytes, bytes], str | None]  # (signed data, detached signature) -> fingerprint

_SHA256 = re.compile(r"[0-9a-f]{64}")


def _sha256_hex(value: str) -> str:
    if not _SHA256.fullmatch(value):
        raise ValueError(f"{value!r} is not a sha256 digest (64 lowercase hex digits)")
    return value


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("a time must carry its time zone (RFC 3339, e.g. 2026-01-31T12:00:00Z)")
    return value.astimezone(dt.UTC).replace(microsecond=0)


def rfc3339(value: dt.datetime) -> str:
    return _utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _release_path(value: str) -> str:
    """A relative path of safe names: the release directory on every target."""
    if value.startswith("/"):
        raise ValueError(f"{value!r} must be relative to the target's root")
    for part in value.split("/"):
        check_name(part)
    return value


Sha256Hex = Annotated[str, AfterValidator(_sha256_hex)]
UtcTime = Annotated[dt.datetime, AfterValidator(_utc), PlainSerializer(rfc3339, return_type=str)]
ReleasePath = Annotated[str, AfterValidator(_release_path)]


class IndexedRelease(Model):
    """A release as an index names it: where it is and the digest of its manifest.json."""

    image: Name
    version: Version
    path: ReleasePath  # e.g. centos-7-genericcloud/7.9.2009.2, relative to the target's root
    manifest_sha256: Sha256Hex

    def same_release(self, other: IndexedRelease) -> bool:
        return (self.image, self.version) == (other.image, other.version)


class _Signed(Model):
    spec_version: Literal[1] = SPEC_VERSION
    serial: int = Field(ge=1)
    issued: UtcTime
    expires: UtcTime

    @model_validator(mode="after")
    def _expires_later(self) -> _Signed:
        if self.expires <= self.issued:
            raise ValueError("expires must be later than issued")
        return self


class ChannelIndex(_Signed):
    """`channels/<channel>.json`."""

    channel: Name
    current: IndexedRelease
    history: tuple[IndexedRelease, ...] = ()  # earlier releases, newest first


class Snapshot(_Signed):
    """`channels/snapshot.json`: the sha256 of every channel index on a target."""

    indexes: dict[Name, Sha256Hex]


def canonical(document: ChannelIndex | Snapshot) -> bytes:
    """The bytes that are signed and published: sorted keys, no whitespace, ASCII only."""
    data = document.model_dump(mode="json")
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _seconds(ttl: int | dt.timedelta) -> dt.timedelta:
    delta = ttl if isinstance(ttl, dt.timedelta) else dt.timedelta(seconds=ttl)
    if delta <= dt.timedelta(0):
        raise ValueError("the time to live must be positive")
    return delta


def next_index(
    previous: ChannelIndex | None,
    release: IndexedRelease,
    now: dt.datetime,
    ttl: int | dt.timedelta,
    *,
    channel: str | None = None,
) -> ChannelIndex:
    """The index after `previous` pointing at `release`: serial + 1, issued now, new expiry.

    The first index of a channel (no `previous`) needs `channel`. Re-pointing to the current
    release (a re-sign) keeps the history; otherwise the old current release goes first in it.
    """
    if previous is None:
        if channel is None:
            raise ValueError("the first index of a channel needs the channel name")
        return ChannelIndex(
            channel=channel, serial=1, issued=now, expires=now + _seconds(ttl), current=release
        )
    if channel is not None and channel != previous.channel:
        raise ValueError(f"index of channel {previous.channel!r} cannot become {channel!r}")
    history = previous.history
    if previous.current != release:
        earlier = (previous.current, *previous.history)
        history = tuple(h for h in earlier if not h.same_release(release))[:HISTORY_LIMIT]
    return ChannelIndex(
        channel=previous.channel,
        serial=previous.serial + 1,
        issued=now,
        expires=now + _seconds(ttl),
        current=release,
        history=history,
    )


def resigned(previous: ChannelIndex, now: dt.datetime, ttl: int | dt.timedelta) -> ChannelIndex:
    """The same release with a higher serial and a fresh expiry (what `release resign` signs)."""
    return next_index(previous, previous.current, now, ttl)


def next_snapshot(
    previous: Snapshot | None,
    indexes: Mapping[str, bytes],
    now: dt.datetime,
    ttl: int | dt.timedelta,
    retired: Collection[str] = (),
) -> Snapshot:
    """The snapshot after `previous` with these channel indexes (their published bytes)."""
    digests = dict(previous.indexes) if previous else {}
    digests.update({name: sha256_hex(data) for name, data in indexes.items()})
    for name in retired:
        digests.pop(name, None)
    return Snapshot(
        serial=previous.serial + 1 if previous else 1,
        issued=now,
        expires=now + _seconds(ttl),
        indexes=dict(sorted(digests.items())),
    )


Status = Literal["ok", "bad-signature", "invalid", "wrong-channel", "replayed", "expired"]


@dataclass(frozen=True)
class IndexCheck:
    """What checking one channel index found; `index` is set once the bytes parsed."""

    status: Status
    message: str
    index: ChannelIndex | None = None
    signer: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def check_signature(
    data: bytes, signature: bytes, verify: Verify, allowed: Collection[str] | None
) -> tuple[str | None, str]:
    """(fingerprint, "") if a key in `allowed` (any when None) signed `data`; else (None, why)."""
    signer = verify(data, signature)
    if signer is None:
        return None, "the signature does not verify"
    if allowed is not None and signer not in allowed:
        return None, f"signed by {signer}, which is not allowed to sign it"
    return signer, ""


def parse_index(data: bytes) -> ChannelIndex:
    """The index in `data`; raises ValueError saying what is wrong."""
    try:
        return ChannelIndex.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "document"
        raise ValueError(f"not a channel index: {where}: {first['msg']}") from exc


def _too_large(size: int) -> str:
    return f"{size} bytes is larger than {MAX_DOCUMENT_SIZE} bytes, the most an index may be"


def check_index(
    index_bytes: bytes,
    now: dt.datetime,
    last_seen_serial: int | None,
    *,
    channel: str | None = None,
    signature: bytes | None = None,
    verify: Verify | None = None,
    allowed: Collection[str] | None = None,
) -> IndexCheck:
    """Check an index a client fetched: its signature (when `verify` is given) before anything
    is read from it, then its channel, that its serial is not lower than the last one this
    client saw (a replayed old index), and that it has not expired."""
    signer = None
    if verify is not None:
        signer, why = check_signature(index_bytes, signature or b"", verify, allowed)
        if signer is None:
            return IndexCheck("bad-signature", why)
    if len(index_bytes) > MAX_DOCUMENT_SIZE:
        return IndexCheck("invalid", _too_large(len(index_bytes)), signer=signer)
    try:
        index = parse_index(index_bytes)
    except ValueError as exc:
        return IndexCheck("invalid", str(exc), signer=signer)
    if channel is not None and index.channel != channel:
        return IndexCheck(
            "wrong-channel",
            f"index is for channel {index.channel!r}, not {channel!r}",
            index,
            signer,
        )
    if last_seen_serial is not None and index.serial < last_seen_serial:
        return IndexCheck(
            "replayed",
            f"serial {index.serial} is lower than {last_seen_serial}, the last one seen:"
            " an old index is being served again",
            index,
            signer,
        )
    if _utc(now) >= index.expires:
        return IndexCheck(
            "expired", f"the index expired at {rfc3339(index.expires)}", index, signer
        )
    return IndexCheck(
        "ok", f"{index.channel} serial {index.serial}: {index.current.path}", index, signer
    )


@dataclass(frozen=True)
class SnapshotCheck:
    """Which channel indexes disagree with the snapshot (or are not in it)."""

    ok: bool
    message: str
    mismatched: tuple[str, ...] = ()
    unlisted: tuple[str, ...] = ()
    snapshot: Snapshot | None = None


def check_snapshot(
    snapshot_bytes: bytes,
    indexes: Mapping[str, bytes],
    *,
    now: dt.datetime | None = None,
    signature: bytes | None = None,
    verify: Verify | None = None,
    allowed: Collection[str] | None = None,
) -> SnapshotCheck:
    """Every given index (channel -> the bytes fetched) must have the digest the snapshot lists."""
    if verify is not None:
        signer, why = check_signature(snapshot_bytes, signature or b"", verify, allowed)
        if signer is None:
            return SnapshotCheck(False, f"snapshot: {why}")
    if len(snapshot_bytes) > MAX_DOCUMENT_SIZE:
        return SnapshotCheck(False, f"snapshot: {_too_large(len(snapshot_bytes))}")
    try:
        snapshot = Snapshot.model_validate_json(snapshot_bytes)
    except ValidationError as exc:
        return SnapshotCheck(False, f"not a snapshot: {exc.errors()[0]['msg']}")
    if now is not None and _utc(now) >= snapshot.expires:
        return SnapshotCheck(False, f"the snapshot expired at {rfc3339(snapshot.expires)}")
    unlisted = tuple(sorted(name for name in indexes if name not in snapshot.indexes))
    mismatched = tuple(
        sorted(
            name
            for name, data in indexes.items()
            if name in snapshot.indexes and snapshot.indexes[name] != sha256_hex(data)
        )
    )
    if unlisted or mismatched:
        parts = [f"{name}: sha256 differs from the snapshot's" for name in mismatched]
        parts += [f"{name}: not in the snapshot" for name in unlisted]
        return SnapshotCheck(False, "; ".join(parts), mismatched, unlisted, snapshot)
    message = f"snapshot serial {snapshot.serial}: {len(indexes)} indexes agree"
    return SnapshotCheck(True, message, snapshot=snapshot)
