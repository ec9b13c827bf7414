"""Where a release directory is read from: a local directory or an http(s) URL.

A small interface so the publish work can add s3:// and gs:// (register a factory in
SOURCES). Sources never read more than they are allowed: small metadata files up to a cap,
artifacts up to their signed size (a longer file is refused before its body is read).
"""

from __future__ import annotations

import errno
import os
import stat
import urllib.parse
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO, Protocol

from release.errors import InvalidInput
from release.integrity.deadline import Budget, DeadlinePassed
from release.integrity.digests import ALGORITHMS, Digests, digest_stream
from release.integrity.httpsource import HttpSource
from release.integrity.sourceproblem import SourceProblem, size_message

__all__ = ["SOURCES", "HttpSource", "LocalSource", "Source", "SourceProblem", "open_source"]


class Source(Protocol):
    @property
    def location(self) -> str: ...

    def read_small(self, name: str, limit: int) -> bytes | None:
        """The whole file, None when it does not exist; SourceProblem above `limit` bytes."""

    def digest(self, name: str, size: int, algorithms: Iterable[str] = ALGORITHMS) -> Digests:
        """Digests of the file, which must be exactly `size` bytes; never reads past it."""


class LocalSource:
    def __init__(self, directory: Path, budget: Budget | None = None) -> None:
        if not directory.is_dir():
            raise InvalidInput(f"{directory}: not a directory")
        self._directory = directory.absolute()  # `.` still names its image/version
        self._budget = budget or Budget()

    @property
    def location(self) -> str:
        return str(self._directory)

    def _open(self, name: str) -> int | None:
        if self._budget.run.passed():
            raise SourceProblem(f"not read: {self._budget.run.what} passed")
        path = self._directory / name
        try:
            # O_NOFOLLOW: a symlink could point anywhere (/dev/zero, a file outside the release).
            # O_NONBLOCK: opening a FIFO for reading would wait for a writer forever; the type
            # is checked right after, on the open descriptor, before any read.
            return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise SourceProblem("refused: it is a symlink") from None
            raise SourceProblem(f"cannot open: {error.strerror}") from None

    def _open_regular(self, name: str) -> tuple[BinaryIO, int] | None:
        """The open file and its size; refuses anything but a regular file."""
        fd = self._open(name)
        if fd is None:
            return None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise SourceProblem(f"refused: not a regular file ({_kind(info.st_mode)})")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb", buffering=0), info.st_size

    def read_small(self, name: str, limit: int) -> bytes | None:
        opened = self._open_regular(name)
        if opened is None:
            return None
        stream, size = opened
        with stream:
            if size > limit:
                raise SourceProblem(f"larger than {limit} bytes: refused")
            return stream.read(limit)

    def digest(self, name: str, size: int, algorithms: Iterable[str] = ALGORITHMS) -> Digests:
        opened = self._open_regular(name)
        if opened is None:
            raise SourceProblem("missing")
        stream, actual = opened
        with stream:
            if actual != size:
                raise SourceProblem(size_message(actual, size))
            deadline = self._budget.document(name)
            try:  # a slow or stuck filesystem (NFS, FUSE) meets the same deadlines as HTTP
                digests = digest_stream(
                    stream, algorithms, limit=size, progress=lambda _read: deadline.check()
                )
            except DeadlinePassed as passed:
                raise SourceProblem(str(passed)) from None
            except OSError as error:
                raise SourceProblem(f"cannot read: {error.strerror}") from None
        if digests.size != size:
            raise SourceProblem(size_message(digests.size, size))
        return digests


def _kind(mode: int) -> str:
    kinds = {
        stat.S_ISDIR: "a directory",
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISSOCK: "a socket",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
    }
    return next((what for test, what in kinds.items() if test(mode)), "a special file")


SOURCES: dict[str, Callable[[str, Budget], Source]] = {
    "http": HttpSource,
    "https": HttpSource,
}


def open_source(location: str, budget: Budget | None = None) -> Source:
    """A source for a local path or a URL whose scheme has a registered factory.

    Every read is bounded by `budget`: the run's deadline and one per document.
    """
    budget = budget or Budget()
    scheme = urllib.parse.urlsplit(location).scheme
    if scheme and len(scheme) > 1:  # 'c:' style drive letters are not schemes
        factory = SOURCES.get(scheme)
        if factory is None:
            known = ", ".join(f"{s}://" for s in sorted(SOURCES))
            raise InvalidInput(f"{location}: cannot read {scheme}:// releases (supported: {known})")
        return factory(location, budget)
    return LocalSource(Path(location), budget)
