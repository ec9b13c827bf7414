"""Where channel indexes live on a target, written so two writers cannot lose an update.

An `IndexStore` reads and writes the small files under `channels/` at a target's root. A
writer takes the target's index lock for a whole read-modify-write (index, its signature,
the snapshot and its signature), and each write is also a compare-and-swap on what was read
(`expect`: the version token of the object read, or None for "must not exist yet"), so a
writer that lost its lock (a lease broken after it stalled) cannot overwrite a newer index:
it gets `Changed`, re-reads and recomputes. Each SDK stays in its adapter module.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from release import fsutil
from release.errors import InvalidInput, OperationError
from release.owner import gone, owner_id
from release.publish.retry import Retrier, RetrySettings

LOCK_NAME = "channels/.lock"
LEASE = 300.0  # a lock not refreshed for this long was left by a writer that died
REFRESH = 60.0  # a live holder rewrites its lock this often (uploads can take hours)
WAIT = 4 * 3600.0  # how long a writer waits for the lock (another may be uploading)

log = logging.getLogger(__name__)

# Index, snapshot and lock calls: small, and done under a lock someone may be waiting for, so
# a short budget. The one retry layer for them: the SDKs' own retries are off.
INDEX_RETRY = Retrier(RetrySettings(attempts=3, initial_wait=0.2, max_wait=2.0))


def abandoned(owner: bytes, age: float) -> bool:
    """Whether a lock `age` seconds old, held by `owner` (an `owner_id()`), was left by a
    writer that died: its lease ran out, or (at once) its process ran here and is gone, e.g.
    after a kill -9, so a rerun on the same machine does not wait out the lease."""
    return age > LEASE or gone(owner)


@contextlib.contextmanager
def lease_lock(
    where: str,
    take: Callable[[bytes], bool],
    refresh: Callable[[bytes], None],
    release: Callable[[], None],
) -> Iterator[None]:
    """A lock held as an object on the target: created create-only by `take` (which also breaks
    a lease older than LEASE), kept alive by `refresh`, removed by `release`."""
    owner = owner_id()
    deadline = time.monotonic() + WAIT
    delay = 0.05
    while not take(owner):
        if time.monotonic() > deadline:
            raise OperationError(
                f"{where}: the index lock is held by another writer; rerun when it is done"
            )
        time.sleep(delay)
        delay = min(delay * 2, 2.0)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(REFRESH):
            try:
                refresh(owner)
            except Exception as exc:  # a missed beat is retried at the next one
                log.warning("%s: cannot refresh the lock: %s", where, exc)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        release()


@dataclass(frozen=True)
class Stored:
    """The bytes of an object and the token a compare-and-swap write must present."""

    data: bytes
    token: str


class Changed(OperationError):
    """The object changed since it was read: another writer won; re-read and recompute."""


class IndexStore(Protocol):
    @property
    def url(self) -> str:
        """The target's root, e.g. `s3://bucket/prefix`."""
        ...

    def read(self, name: str) -> Stored | None:
        """The object `name` (relative to the root), or None if there is none."""
        ...

    def write(self, name: str, data: bytes, expect: Stored | None) -> None:
        """Replace `name` only if it is still `expect` (None: only if it does not exist)."""
        ...

    def put(self, name: str, data: bytes) -> None:
        """Write `name` unconditionally (a signature, written under the lock)."""
        ...

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """Hold the target's index lock: one read-modify-write at a time."""
        ...


def signed_write(store: IndexStore, name: str, data: bytes, expect: Stored | None,
                 signature: bytes) -> None:  # fmt: skip
    """Put `name`'s detached signature, then `name` itself (compare-and-swap on `expect`).

    Over a network an attempt can land while its answer is lost; the SDK's retry then meets
    its own write and gets `Changed`. An object holding exactly `data` (a new serial and
    issue time: no other writer makes these bytes) is that write: done. If the write fails,
    the signature that was there is put back, so the object there and its signature still
    verify (best effort: the rerun rewrites both anyway)."""
    previous = store.read(name + ".asc")
    store.put(name + ".asc", signature)
    try:
        store.write(name, data, expect)
    except Changed:
        now = store.read(name)
        if now is not None and now.data == data:
            return
        _put_back(store, name, previous)
        raise
    except OperationError:
        _put_back(store, name, previous)
        raise


def _put_back(store: IndexStore, name: str, signature: Stored | None) -> None:
    if signature is None:
        return
    try:
        store.put(name + ".asc", signature.data)
    except OperationError as exc:
        log.warning("%s/%s.asc: cannot put the old signature back: %s", store.url, name, exc)


CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".asc": "application/pgp-signature",
}


def content_type(name: str) -> str:
    """What an object store should serve `name` as, so a browser shows a page (not a download)."""
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    return CONTENT_TYPES.get(suffix, "application/octet-stream")


def check_name(name: str) -> str:
    if name.startswith("/") or ".." in name.split("/"):
        raise InvalidInput(f"{name!r}: an index store name must stay under the target's root")
    return name


class FilesystemIndexStore:
    """A lock file (flock) around the update, atomic renames, tokens are sha256 of content;
    the holder of the lock sweeps the temporary files a killed writer left."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()

    @property
    def url(self) -> str:
        return self.root.as_uri()

    def _path(self, name: str) -> Path:
        return self.root / check_name(name)

    def read(self, name: str) -> Stored | None:
        try:
            data = self._path(name).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise OperationError(f"{self._path(name)}: cannot read: {exc.strerror}") from exc
        return Stored(data, hashlib.sha256(data).hexdigest())

    def write(self, name: str, data: bytes, expect: Stored | None) -> None:
        now = self.read(name)
        if (now is None) != (expect is None) or (now and expect and now.token != expect.token):
            raise Changed(f"{self._path(name)} changed since it was read")
        self.put(name, data)

    def put(self, name: str, data: bytes) -> None:
        path = self._path(name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fsutil.write_bytes(path, data)
        except OSError as exc:
            raise OperationError(f"{path}: cannot write: {exc.strerror}") from exc

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        path = self._path(LOCK_NAME)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released by the kernel if this process dies
            # Every write here happens under this lock, so a temporary file is one a writer
            # killed mid-write left: remove it, or the mirror serves it for good.
            for leftover in path.parent.glob(".*.part"):
                leftover.unlink(missing_ok=True)
            yield
        finally:
            os.close(fd)
