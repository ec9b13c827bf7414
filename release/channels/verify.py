"""`release verify --channel C ROOT`: what a downstream client checks before trusting a channel.

From a mirror's root (a directory or an http(s) URL): `channels/C.json` and its signature
(by a key trust.yaml allows for C), not expired, its serial not lower than the last one this
client saw (an old index replayed), the snapshot agreeing with it, then the release it points
at (`verify_release`) and that the release's manifest.json is the one the index names.
Serials are recorded only when everything passed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from release.channels import index as idx
from release.channels.serials import SerialStore
from release.integrity.keyring import Keyring, open_keyring
from release.integrity.keysource import KeySource
from release.integrity.manifest import MANIFEST
from release.integrity.sources import SourceProblem, open_source
from release.integrity.verify import VerifyResult, verify_release

SMALL = 1 << 20  # an index or a snapshot is a few KiB


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


def holds_channel_index(root: str, channel: str) -> bool:
    """Whether `root` is a mirror root that publishes channel `channel`'s index."""
    try:
        return _read(root, idx.INDEX_PATH.format(channel=channel)) is not None
    except (SourceProblem, OSError):
        return False


def _join(root: str, relative: str) -> str:
    if "://" in root:
        return f"{root.rstrip('/')}/{relative}"
    return str(Path(root) / relative)


def _read(root: str, relative: str) -> bytes | None:
    folder, _, name = relative.rpartition("/")
    where = _join(root, folder) if folder else root
    if "://" not in where and not Path(where).is_dir():
        return None
    return open_source(where).read_small(name, SMALL)


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
) -> ChannelVerifyResult:
    """Check channel `channel` at mirror `root`; see the module docstring."""
    serials = serials or SerialStore()
    now = now or dt.datetime.now(dt.UTC)
    result = ChannelVerifyResult(root, channel)
    index_name = idx.INDEX_PATH.format(channel=channel)
    try:
        data = _read(root, index_name)
        signature = _read(root, index_name + ".asc") or b""
        snapshot = _read(root, idx.SNAPSHOT_PATH)
        snapshot_sig = _read(root, idx.SNAPSHOT_PATH + ".asc") or b""
    except SourceProblem as exc:
        result.problems.append(f"cannot fetch the channel index: {exc}")
        return result
    if data is None:
        result.problems.append(f"{_join(root, index_name)}: no such channel index")
        return result
    index_key, snapshot_key = _join(root, index_name), _join(root, idx.SNAPSHOT_PATH)
    with open_keyring(keys) as keyring:
        result.index = idx.check_index(
            data, now, serials.last_seen(index_key), channel=channel, signature=signature,
            verify=_verifier(keyring, channel, index_name),
        )  # fmt: skip
        if not result.index.ok:
            result.problems.append(f"{index_name}: {result.index.status}: {result.index.message}")
            return result
        if snapshot is None:
            result.problems.append(f"{idx.SNAPSHOT_PATH}: missing")
            return result
        result.snapshot = idx.check_snapshot(
            snapshot, {channel: data}, now=now, signature=snapshot_sig,
            # One snapshot covers every channel of the target, so whichever channel's key wrote
            # it last signed it: any key the trust file knows may sign a snapshot.
            verify=_verifier(keyring, None, idx.SNAPSHOT_PATH),
        )  # fmt: skip
    if not result.snapshot.ok:
        result.problems.append(f"{idx.SNAPSHOT_PATH}: {result.snapshot.message}")
        return result
    snap = result.snapshot.snapshot
    last_snapshot = serials.last_seen(snapshot_key)
    if snap is not None and last_snapshot is not None and snap.serial < last_snapshot:
        result.problems.append(
            f"{idx.SNAPSHOT_PATH}: serial {snap.serial} is lower than {last_snapshot}, the last"
            " one seen: an old snapshot is being served again"
        )
        return result
    index = result.index.index
    if index is None:  # an ok check always carries its index
        result.problems.append(f"{index_name}: not parsed")
        return result
    _check_release(root, index, keys, result)
    if result.ok:
        serials.record(index_key, index.serial)
        if snap is not None:
            serials.record(snapshot_key, snap.serial)
    return result


def _check_release(
    root: str, index: idx.ChannelIndex, keys: KeySource, result: ChannelVerifyResult
) -> None:
    location = _join(root, index.current.path)
    result.release = verify_release(location, keys, channel=index.channel)
    if (result.release.image, result.release.version) != (
        index.current.image,
        index.current.version,
    ):
        result.problems.append(
            f"{location} holds {result.release.image} {result.release.version}, but the index"
            f" names {index.current.image} {index.current.version}"
        )
    try:
        manifest = _read(location, MANIFEST)
    except SourceProblem as exc:
        result.problems.append(f"{location}/{MANIFEST}: {exc}")
        return
    digest = hashlib.sha256(manifest or b"").hexdigest()
    if manifest is None or digest != index.current.manifest_sha256:
        result.problems.append(
            f"{location}/{MANIFEST} has sha256 {digest}; the index says"
            f" {index.current.manifest_sha256} (a different release under the same name)"
        )
