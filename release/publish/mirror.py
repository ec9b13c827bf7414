"""The one interface every publish target implements, and the values it trades in.

A `Mirror` is opened for one release at one place (it knows its own root URL). It says what
is already there, puts files create-only, reads them back, and finalizes. Each adapter lives
in its own module, imports its SDK there only, and turns the SDK's errors into ours
(`retry.Transient` for what is worth retrying, a `ReleaseError` for the rest).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from release import progress
from release.errors import OperationError, VerificationError
from release.publish.journal import JournalStore
from release.publish.retry import Retrier
from release.publish.upload_digest import sha256_file


@dataclass(frozen=True)
class LocalFile:
    """One file of the release dir, with its digest and its content-addressed step id."""

    name: str
    path: Path
    size: int
    sha256: str  # hex
    step: str


@dataclass(frozen=True)
class Remote:
    """What a target holds under a name; `sha256` None when the target cannot tell cheaply."""

    size: int
    sha256: str | None


class Conflict(OperationError):
    """The target holds different bytes under a release's name: releases are immutable."""


class NotSealedBytes(VerificationError):
    """A local file's bytes are not those of the digest the release states for it."""

    def __init__(self, f: LocalFile, actual: str) -> None:
        super().__init__(
            f"{f.path}: its bytes (sha256 {actual}) are not the ones the release states"
            f" (sha256 {f.sha256}): the file changed after the release was sealed; nothing was"
            " published under that digest (rebuild or reseal the release)"
        )


def prove(f: LocalFile, journal: JournalStore) -> None:
    """Hash a file before sending it, unless the journal already knows these bytes' digest;
    raise NotSealedBytes if they are not `f.sha256` (for adapters that cannot hash as they
    send)."""
    if journal.cached_sha256(f.path) == f.sha256:
        return
    st = f.path.stat()
    actual = sha256_file(f.path)
    if actual != f.sha256:
        raise NotSealedBytes(f, actual)
    journal.cache_sha256(f.path, st, actual)


@dataclass
class PutContext:
    """What an adapter gets to do its work: the journal, the retry policy and progress."""

    journal: JournalStore
    retrier: Retrier
    show_progress: bool = True

    @contextlib.contextmanager
    def progress(self, name: str, total: int) -> Iterator[progress.Task]:
        if not self.show_progress:
            yield progress.Task(name, total)
            return
        with progress.task(f"upload {name}", total, nbytes=True) as bar:
            yield _Locked(bar)


class _Locked(progress.Task):
    """A progress task that several upload threads can advance at once."""

    def __init__(self, inner: progress.Task) -> None:
        super().__init__(inner.description, inner.total)
        self._inner = inner
        self._lock = threading.Lock()

    def advance(self, amount: int) -> None:
        with self._lock:
            super().advance(amount)
            self._inner.advance(amount)


class Mirror(Protocol):
    @property
    def url(self) -> str:
        """Where this release goes, e.g. `s3://bucket/prefix/image/1.0`; part of step ids."""
        ...

    def check(self) -> None:
        """Fail fast, without retries, on bad credentials or a missing bucket or host."""
        ...

    def present(self, names: Sequence[str]) -> dict[str, Remote]:
        """What of `names` the target already holds, with size and (when known) SHA-256."""
        ...

    def put(self, files: Sequence[LocalFile], ctx: PutContext) -> None:
        """Put these files, in this order, create-only; resume partial uploads."""
        ...

    def read_back(self, files: Sequence[LocalFile]) -> dict[str, Remote]:
        """Read back what the target holds for `files` (size and a digest it proved)."""
        ...

    def finalize(self) -> None:
        """Make the release visible as a whole where the target allows it (filesystem)."""
        ...
