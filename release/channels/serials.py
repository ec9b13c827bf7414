"""The client's memory of the highest index serial it has seen, per channel source.

Replay protection needs state: a correctly signed but old index is only recognisable as old
by comparing its serial with one seen before. One small JSON file, written atomically under a
lock so two `release verify` runs at once cannot lose each other's update.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

from release import fsutil
from release.errors import InvalidInput


def default_path() -> Path:
    """`$XDG_CACHE_HOME/image-release/serials.json`, by default `~/.cache/image-release/...`."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "image-release" / "serials.json"


class SerialStore:
    """Highest serial seen per key (e.g. the index URL). Serials recorded here never go down."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()

    def last_seen(self, key: str) -> int | None:
        return self._read().get(key)

    def record(self, key: str, serial: int) -> int:
        """Remember `serial` for `key` unless a higher one is known; returns the stored one."""
        with self._locked():
            serials = self._read()
            stored = max(serial, serials.get(key, 0))
            if serials.get(key) != stored:
                serials[key] = stored
                text = json.dumps({"serials": serials}, indent=2, sort_keys=True) + "\n"
                fsutil.write_text(self.path, text)
            return stored

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
