"""`release resign`: give published channel indexes a fresh expiry before they expire.

The release an index points at does not change (that is reconcile's job); the serial goes
up and the expiry moves to now + the channel's `index_ttl`. Written like reconcile writes:
under the target's index lock, compare-and-swap, snapshot after. Only an index signed by a
key the trust file allows now is re-signed: whoever can write to a mirror must not get the
publisher's key to sign their document (after a key leaked, say).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from release.channels import site
from release.channels.differences import local_target, selected_channels
from release.channels.index import ChannelIndex, rfc3339
from release.channels.indexwriter import Clock, check_signer, read_index, utcnow, write_index
from release.channels.state import load_state
from release.channels.vouched import UNTRUSTED, Untrusted, Voucher, vouched_index, voucher
from release.config.loader import ConfigRepo
from release.integrity.signing import Signer, SigningConfig, open_signer
from release.publish.indexstore import IndexStore, Stored
from release.publish.options import Options
from release.publish.targets import holds_index, open_index_store

Status = Literal["resigned", "fresh", "absent", "untrusted"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resigned:
    channel: str
    target: str
    status: Status
    serial: int | None = None
    detail: str = ""


@dataclass
class ResignResult:
    indexes: list[Resigned] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"indexes": [r.__dict__ for r in self.indexes]}

    @property
    def untrusted(self) -> list[Resigned]:
        return [r for r in self.indexes if r.status == "untrusted"]


def resign(
    repo: Path,
    *,
    signing: SigningConfig,
    channels: Sequence[str] | None = None,
    within: int = 7 * 86400,
    options: Options | None = None,
    clock: Clock = utcnow,
) -> ResignResult:
    """Re-sign every index of `channels` (all when None) expiring within `within` seconds."""
    repo = Path(repo).absolute()
    config = load_state(str(repo), "HEAD")
    result = ResignResult()
    written: dict[str, IndexStore] = {}
    with contextlib.ExitStack() as stack:
        judge = stack.enter_context(voucher(repo))
        signer: Signer | None = None
        for name, target_name, store in _mirrors(config, channels, repo, options):
            index = read_index(store, name)
            if index is None:
                result.indexes.append(Resigned(name, target_name, "absent"))
                continue
            fresh = _fresh(name, target_name, index, clock, within)
            if fresh is not None:
                result.indexes.append(fresh)
                continue
            if signer is None:
                signer = stack.enter_context(open_signer(signing))
            check_signer(config, name, signer.fingerprint)
            ttl = config.channel(name).index_ttl
            done = _resign_one(judge, store, (name, target_name), index, ttl, signer, clock)
            if done.status == "resigned":
                written[target_name] = store
            result.indexes.append(done)
        if signer is not None:  # the pages show the new expiry
            for warning in site.catch_up_all(written, set(written), signer):
                log.warning("%s", warning)
    return result


def _mirrors(
    config: ConfigRepo, channels: Sequence[str] | None, repo: Path, options: Options | None
) -> Iterator[tuple[str, str, IndexStore]]:
    """(channel, target, the target's index store) for each mirror of the selected channels."""
    for name in selected_channels(config, channels):
        for target_name in config.channel(name).targets:
            target = local_target(config.targets[target_name], repo)
            if holds_index(target):
                yield name, target_name, open_index_store(target, options)


def _fresh(
    name: str, target_name: str, index: ChannelIndex, clock: Clock, within: int
) -> Resigned | None:
    """The index as left alone when it does not expire within `within` seconds, else None."""
    if index.expires - clock() > dt.timedelta(seconds=within):
        detail = f"expires {rfc3339(index.expires)}"
        return Resigned(name, target_name, "fresh", index.serial, detail)
    return None


def _resign_one(
    judge: Voucher,
    store: IndexStore,
    where: tuple[str, str],
    index: ChannelIndex,
    ttl: int,
    signer: Signer,
    clock: Clock,
) -> Resigned:
    """Re-sign the channel's index on the target under its lock, if a trusted key signed it."""
    name, target_name = where

    def trusted(stored: Stored) -> bool:
        return vouched_index(judge, store, name, stored)

    try:
        with store.lock():
            serial = write_index(store, name, None, ttl, signer, clock, trusted)
    except Untrusted:
        return Resigned(name, target_name, "untrusted", index.serial, UNTRUSTED)
    detail = f"was expiring {rfc3339(index.expires)}"
    return Resigned(name, target_name, "resigned", serial, detail)
