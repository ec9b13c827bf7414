"""The client's memory of the highest index serial it has seen, per channel.

Replay protection needs state: a correctly signed but old index is only recognisable as old
by comparing its serial with one seen before. One small JSON file, written atomically under a
lock so two `release verify` runs at once cannot lose each other's update.

Serials are kept per what the channel IS, never per where it was read: the channel's name and
each key trust.yaml scopes to it (`index:<channel>:<fingerprint>`). A relative path, another
host name or another mirror of the same channel all find the same serials, so switching
mirrors cannot roll a client back. One entry per key, looked up as the highest over the
channel's keys, keeps the memory across a key rotation (old and new keys overlap) while a
different publisher's channel of the same name (other keys) stays apart.
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from release import fsutil
from release.errors import InvalidInput
from release.model.trust import TrustFile


def default_path() -> Path:
    """`$XDG_CACHE_HOME/image-release/serials.json`, by default `~/.cache/image-release/...`."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "image-release" / "serials.json"


def channel_keys(kind: str, channel: str, trust: TrustFile) -> list[str]:
    """The store's keys for `kind` ("index" or "snapshot") of `channel` under `trust`.

    Every key ever scoped to the channel counts, retired (`not_after`) or not: the identity
    must not change when a key's window ends.
    """
    fingerprints = {
        key.fingerprint
        for key in trust.keys.values()
        if any(fnmatch.fnmatchcase(channel, pattern) for pattern in key.channels)
    }
    return [f"{kind}:{channel}:{fpr}" for fpr in sorted(fingerprints)]


class SerialStore:
    """Highest serial seen per key (e.g. the index URL). Serials recorded here never go down."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()

    def last_seen(self, key: str) -> int | None:
        return self._read().get(key)

    def last_seen_any(self, keys: Iterable[str]) -> int | None:
        """The highest serial seen under any of `keys`; None when none was seen."""
        serials = self._read()
        seen = [serials[key] for key in keys if key in serials]
        return max(seen) if seen else None

    def record(self, key: str, serial: int) -> int:
        """Remember `serial` for `key` unless a higher one is known; returns the stored one."""
        return self.record_all([key], serial)

    def record_all(self, keys: Iterable[str], serial: int) -> int:
        """Remember `serial` under each of `keys` (never lowering one); returns the highest."""
        keys = list(keys)
        with self._locked():
            serials = self._read()
            before = dict(serials)
            for key in keys:
                serials[key] = max(serial, serials.get(key, 0))
            if serials != before:
                text = json.dumps({"serials": serials}, indent=2, sort_keys=True) + "\n"
                fsutil.write_text(self.path, text)
            return max([serial, *(serials[key] for key in keys)])

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = self.path.with_name(self.path.name + ".lock")
        with lock.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _read(self) -> dict[str, int]:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(raw)
            serials = data["serials"]
            if not isinstance(serials, dict) or not all(
                isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
                for k, v in serials.items()
            ):
                raise TypeError("serials must map names to whole numbers")
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(
                f"{self.path}: not a serials file ({exc}); fix it or move it away"
                " (moving it away forgets which index versions were seen, so replays of"
                " older indexes go unnoticed once)"
            ) from exc
        return dict(serials)
