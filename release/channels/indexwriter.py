"""Reading and writing a mirror's signed channel documents: indexes and the snapshot.

The one writer reconcile and resign share. Each write is a compare-and-swap on what was read
(another writer got there first: re-read, recompute, try again, at most CAS_ATTEMPTS times)
and is made while the caller holds the store's index lock. An index is written before the
snapshot that lists it: a writer stopped in between leaves an index no client accepts until
the snapshot follows (the next run writes it). Who may sign is checked here too, before
anything is written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from release.channels import index as idx
from release.channels.vouched import UNTRUSTED, Untrusted
from release.config.loader import ConfigRepo
from release.errors import InvalidInput, OperationError
from release.integrity.manifest import MANIFEST
from release.integrity.signing import Signer
from release.pipeline import MadeRelease
from release.publish.indexstore import Changed, IndexStore, Stored, signed_write

log = logging.getLogger(__name__)

CAS_ATTEMPTS = 5
SNAPSHOT_TTL = 30 * 86400  # a snapshot written only to retire channels (the channel default)
Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def read_index(store: IndexStore, channel: str) -> idx.ChannelIndex | None:
    return read_stored_index(store, channel)[1]


def read_stored_index(
    store: IndexStore, channel: str
) -> tuple[Stored | None, idx.ChannelIndex | None]:
    """The channel's index as stored (its bytes), and parsed."""
    stored = store.read(idx.INDEX_PATH.format(channel=channel))
    if stored is None:
        return None, None
    try:
        return stored, idx.parse_index(stored.data)
    except ValueError as exc:
        raise OperationError(f"{store.url}/channels/{channel}.json: {exc}") from exc


def parse_snapshot(store: IndexStore, data: bytes) -> idx.Snapshot:
    try:
        return idx.Snapshot.model_validate_json(data)
    except ValidationError as exc:
        raise OperationError(f"{store.url}/{idx.SNAPSHOT_PATH}: not a snapshot: {exc}") from exc


def indexed(release: MadeRelease) -> idx.IndexedRelease:
    """The index entry of a sealed release: where it lies, and its manifest's digest."""
    manifest = (release.directory / MANIFEST).read_bytes()
    return idx.IndexedRelease(
        image=release.image,
        version=release.version,
        path=f"{release.image}/{release.version}",
        manifest_sha256=hashlib.sha256(manifest).hexdigest(),
    )


def allowed_signers(config: ConfigRepo, channel: str | None) -> set[str]:
    """Fingerprints keys/trust.yaml allows for `channel` (None: for any channel, e.g. a
    snapshot), narrowed to the channel's `keys`."""
    allowed = config.trust.allowed_fingerprints(channel)
    named = config.channel(channel).keys if channel in config.channels else ()
    if named:
        allowed &= {config.trust.keys[k].fingerprint for k in named if k in config.trust.keys}
    return allowed


def check_signer(config: ConfigRepo, channel: str | None, fingerprint: str) -> None:
    if fingerprint not in allowed_signers(config, channel):
        what = f"channel {channel}" if channel else "channel snapshots"
        why = config.trust.refusal(fingerprint, channel) or "not among the channel's `keys`"
        raise InvalidInput(
            f"signing key {fingerprint} may not sign {what} ({why}): sign with a key"
            " keys/trust.yaml allows for it (and the channel's `keys` names), or add one"
        )


def check_signers(
    config: ConfigRepo, channels: Sequence[str], snapshots: bool, fingerprint: str
) -> None:
    """Refuse, before anything is written, a key that may not sign the indexes of `channels`
    (in that order), nor snapshots when a snapshot is written alone (`snapshots`)."""
    for channel in channels:
        check_signer(config, channel, fingerprint)
    if snapshots:
        check_signer(config, None, fingerprint)


def write_index(
    store: IndexStore,
    channel: str,
    release: idx.IndexedRelease | None,
    ttl: int,
    signer: Signer,
    clock: Clock = utcnow,
    trusted: Callable[[Stored], bool] | None = None,
) -> int:
    """Write the next signed index of `channel` (a re-sign when `release` is None), then the
    snapshot, each compare-and-swap; the caller holds the store's lock. Returns the new serial.
    The index is written once: a conflict on the snapshot retries the snapshot alone. A
    re-sign signs only what `trusted` accepts (the exact bytes read), else raises Untrusted."""
    path = idx.INDEX_PATH.format(channel=channel)
    for _ in range(CAS_ATTEMPTS):
        before = store.read(path)
        previous = idx.parse_index(before.data) if before else None
        now = clock()
        if release is None:
            if previous is None or before is None:
                raise OperationError(f"{store.url}/{path}: no index to re-sign")
            if trusted is not None and not trusted(before):
                raise Untrusted(f"{store.url}/{path}: {UNTRUSTED}")
            new = idx.resigned(previous, now, ttl)
        else:
            new = idx.next_index(previous, release, now, ttl, channel=channel)
        data = idx.canonical(new)
        try:
            signed_write(store, path, data, before, signer.sign_detached(data))
        except Changed as exc:
            log.warning("%s; re-reading and trying again", exc)
            continue
        write_snapshot(store, {channel: data}, ttl, signer, clock)
        return new.serial
    raise OperationError(f"{store.url}/{path}: other writers kept changing it; rerun")


def write_snapshot(
    store: IndexStore, indexes: dict[str, bytes], ttl: int, signer: Signer, clock: Clock = utcnow
) -> None:
    """Write the next signed snapshot listing `indexes` (channel -> published bytes),
    compare-and-swap; the caller holds the store's lock."""
    update_snapshot(
        store, signer, lambda previous: idx.next_snapshot(previous, indexes, clock(), ttl)
    )


def retire(store: IndexStore, names: Sequence[str], signer: Signer, clock: Clock = utcnow) -> None:
    """Write the snapshot without `names`, under the lock, compare-and-swap."""

    def without(previous: idx.Snapshot | None) -> idx.Snapshot | None:
        gone = [n for n in names if previous is not None and n in previous.indexes]
        if previous is None or not gone:
            return None  # no snapshot, or another run retired them
        return idx.next_snapshot(previous, {}, clock(), SNAPSHOT_TTL, retired=gone)

    with store.lock():
        update_snapshot(store, signer, without)


def update_snapshot(
    store: IndexStore,
    signer: Signer,
    change: Callable[[idx.Snapshot | None], idx.Snapshot | None],
) -> None:
    """Read the snapshot, write `change(snapshot)` signed (None: nothing to write), and start
    over when another writer got there first; the caller holds the store's lock."""
    for _ in range(CAS_ATTEMPTS):
        before = store.read(idx.SNAPSHOT_PATH)
        after = change(parse_snapshot(store, before.data) if before else None)
        if after is None:
            return
        snapshot = idx.canonical(after)
        try:
            signed_write(store, idx.SNAPSHOT_PATH, snapshot, before,
                         signer.sign_detached(snapshot))  # fmt: skip
        except Changed as exc:
            log.warning("%s; re-reading and trying again", exc)
            continue
        return
    raise OperationError(f"{store.url}/{idx.SNAPSHOT_PATH}: other writers kept changing it; rerun")
