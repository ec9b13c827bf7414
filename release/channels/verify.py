"""`release verify --channel C ROOT`: what a downstream client checks before trusting a channel.

ROOT is the mirror's root (a directory or an http(s) URL), and the channel is looked up there
only: `channels/C.json` and its signature (by a key trust.yaml allows for C), not expired, its
serial not lower than the last one this client saw for the channel (an old index replayed;
serials are kept per channel and keys, not per mirror: see serials.py), the snapshot agreeing
with it, then the release it names, at ROOT/<its path> exactly (`verify_release`), whose
signed manifest must be the one the index names. A ROOT that is itself a release directory is
refused: a `channels/` folder planted inside a release is not a mirror's index. Serials are
recorded only when everything passed. Each signed document is read once.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

from release.channels import index as idx
from release.channels.serials import SerialStore, channel_keys
from release.integrity.deadline import Budget
from release.integrity.keyring import Keyring, open_keyring
from release.integrity.keysource import KeySource
from release.integrity.manifest import MANIFEST
from release.integrity.sources import SourceProblem, open_source
from release.integrity.verify import SIGNED_FILES, VerifyResult, verify_release

SMALL = idx.MAX_DOCUMENT_SIZE  # an index or a snapshot is a few KiB


@dataclass
class ChannelVerifyResult:
    root: str
    channel: str
    index: idx.IndexCheck | None = None
    snapshot: idx.SnapshotCheck | None = None
    release: VerifyResult | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.release is not None and self.release.ok

    def failures(self) -> list[str]:
        return [*self.problems, *(self.release.failures() if self.release else [])]

    def to_dict(self) -> dict[str, object]:
        current = self.index.index.current if self.index and self.index.index else None
        return {
            "root": self.root,
            "channel": self.channel,
            "ok": self.ok,
            "index": None
            if self.index is None
            else {
                "status": self.index.status,
                "message": self.index.message,
                "serial": self.index.index.serial if self.index.index else None,
                "current": current.model_dump() if current else None,
                "signer": self.index.signer,
            },
            "snapshot": None if self.snapshot is None else self.snapshot.message,
            "release": self.release.to_dict() if self.release else None,
            "problems": self.problems,
        }


@dataclass
class _Documents:
    index: bytes | None = None
    index_sig: bytes = b""
    snapshot: bytes | None = None
    snapshot_sig: bytes = b""


def _join(root: str, relative: str) -> str:
    if "://" in root:
        return f"{root.rstrip('/')}/{relative}"
    return str(Path(root) / relative)


def _local_dir(root: str, relative: str) -> Path | None:
    """`root/relative` if it is a directory reached without any symlink; None if missing."""
    path = Path(root)
    for part in relative.split("/"):
        path = path / part
        if path.is_symlink():
            raise SourceProblem(f"{path}: refused: it is a symlink")
        if not path.exists():
            return None
    if not path.is_dir():
        raise SourceProblem(f"{path}: refused: not a directory")
    return path


def _read(root: str, relative: str, budget: Budget) -> bytes | None:
    folder, _, name = relative.rpartition("/")
    if "://" not in root and folder and _local_dir(root, folder) is None:
        return None
    where = _join(root, folder) if folder else root
    try:
        return open_source(where, budget).read_small(name, SMALL)
    except SourceProblem as problem:
        raise SourceProblem(f"{relative}: {problem}") from None


def _fetch(root: str, channel: str, budget: Budget) -> _Documents:
    name = idx.INDEX_PATH.format(channel=channel)
    return _Documents(
        _read(root, name, budget),
        _read(root, name + ".asc", budget) or b"",
        _read(root, idx.SNAPSHOT_PATH, budget),
        _read(root, idx.SNAPSHOT_PATH + ".asc", budget) or b"",
    )


def _root_problem(root: str, budget: Budget) -> str | None:
    """Why `root` cannot be a mirror root: it holds a release (one of its signed files)."""
    if "://" in root:
        try:
            found = open_source(root, budget).read_small(MANIFEST, SMALL) is not None
        except SourceProblem:
            # Some stores answer 403 for a missing key: only a file served is a release here.
            found = False
        held = [MANIFEST] if found else []
    else:
        held = [n for n in SIGNED_FILES if os.path.lexists(Path(root) / n)]
    if not held:
        return None
    return (
        f"{root} holds {held[0]}: it is a release directory, not a mirror root; --channel"
        " reads channels/ at the mirror root only (a channels/ folder inside a release is not"
        " trusted). Verify the release without --channel (--channel-keys scopes its keys),"
        " or pass the mirror's root."
    )


def _verifier(keyring: Keyring, channel: str | None, file: str) -> idx.Verify:
    def verify(data: bytes, signature: bytes) -> str | None:
        check = keyring.verify(data, signature, file, channel)  # None: any trusted key
        return check.signers[0] if check.ok and check.signers else None

    return verify


def verify_channel(
    root: str,
    channel: str,
    keys: KeySource,
    *,
    serials: SerialStore | None = None,
    now: dt.datetime | None = None,
    budget: Budget | None = None,
) -> ChannelVerifyResult:
    """Check channel `channel` at mirror `root`; see the module docstring."""
    serials = serials or SerialStore()
    budget = budget or Budget()
    result = ChannelVerifyResult(root, channel)
    index_name = idx.INDEX_PATH.format(channel=channel)
    try:
        problem = _root_problem(root, budget)
        documents = None if problem else _fetch(root, channel, budget)
    except SourceProblem as exc:
        problem = f"cannot fetch the channel index: {exc}"
        documents = None
    if documents is None or documents.index is None:
        result.problems.append(problem or f"{_join(root, index_name)}: no such channel index")
        return result
    with open_keyring(keys) as keyring:
        index, snap = _check_documents(
            documents, channel, keys, keyring, serials, now or dt.datetime.now(dt.UTC), result
        )
        if index is not None:
            _check_release(root, index, keys, keyring, budget, result)
    if result.ok and index is not None:
        serials.record_all(channel_keys("index", channel, keys.trust), index.serial)
        if snap is not None:
            serials.record_all(channel_keys("snapshot", channel, keys.trust), snap.serial)
    return result


def _check_documents(
    documents: _Documents,
    channel: str,
    keys: KeySource,
    keyring: Keyring,
    serials: SerialStore,
    now: dt.datetime,
    result: ChannelVerifyResult,
) -> tuple[idx.ChannelIndex | None, idx.Snapshot | None]:
    """The index and snapshot when both pass (signature, expiry, replay), else Nones."""
    index_name = idx.INDEX_PATH.format(channel=channel)
    data = documents.index or b""
    seen = serials.last_seen_any(channel_keys("index", channel, keys.trust))
    result.index = idx.check_index(
        data, now, seen, channel=channel, signature=documents.index_sig,
        verify=_verifier(keyring, channel, index_name),
    )  # fmt: skip
    if not result.index.ok or result.index.index is None:
        result.problems.append(f"{index_name}: {result.index.status}: {result.index.message}")
        return None, None
    if documents.snapshot is None:
        result.problems.append(f"{idx.SNAPSHOT_PATH}: missing")
        return None, None
    result.snapshot = idx.check_snapshot(
        documents.snapshot, {channel: data}, now=now, signature=documents.snapshot_sig,
        # One snapshot covers every channel of the target, so whichever channel's key wrote
        # it last signed it: any key the trust file knows may sign a snapshot.
        verify=_verifier(keyring, None, idx.SNAPSHOT_PATH),
    )  # fmt: skip
    if not result.snapshot.ok:
        result.problems.append(f"{idx.SNAPSHOT_PATH}: {result.snapshot.message}")
        return None, None
    snap = result.snapshot.snapshot
    last = serials.last_seen_any(channel_keys("snapshot", channel, keys.trust))
    if snap is not None and last is not None and snap.serial < last:
        result.problems.append(
            f"{idx.SNAPSHOT_PATH}: serial {snap.serial} is lower than {last}, the last"
            " one seen: an old snapshot is being served again"
        )
        return None, None
    return result.index.index, snap


def _check_release(
    root: str,
    index: idx.ChannelIndex,
    keys: KeySource,
    keyring: Keyring,
    budget: Budget,
    result: ChannelVerifyResult,
) -> None:
    """The release the index names, at ROOT/<its path>, and nowhere else."""
    location = _join(root, index.current.path)
    try:
        if "://" not in root and _local_dir(root, index.current.path) is None:
            raise SourceProblem(f"{location}: missing")
    except SourceProblem as exc:
        result.problems.append(f"the release the index names: {exc}")
        return
    result.release = verify_release(
        location, keys, channel=index.channel, keyring=keyring, budget=budget,
        image=index.current.image, version=index.current.version,
    )  # fmt: skip
    digest = result.release.manifest_sha256
    if digest is not None and digest != index.current.manifest_sha256:
        result.problems.append(
            f"{location}/{MANIFEST} has sha256 {digest}; the index says"
            f" {index.current.manifest_sha256} (a different release under the same name)"
        )
