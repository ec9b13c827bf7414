"""Where a release directory is read from: a local directory or an http(s) URL.

A small interface so the publish work can add s3:// and gs:// (register a factory in
SOURCES). Sources never read more than they are allowed: small metadata files up to a cap,
artifacts up to their signed size (a longer file is refused before its body is read).
"""

from __future__ import annotations

import errno
import os
import re
import stat
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from http.client import HTTPException, HTTPResponse
from pathlib import Path
from typing import BinaryIO, Protocol

from release.errors import InvalidInput
from release.integrity.digests import ALGORITHMS, Digests, digest_stream

TIMEOUT = 60.0


class SourceProblem(Exception):
    """A file of the release could not be read as expected; the message says why (the
    caller names the file)."""


class Source(Protocol):
    @property
    def location(self) -> str: ...

    def read_small(self, name: str, limit: int) -> bytes | None:
        """The whole file, None when it does not exist; SourceProblem above `limit` bytes."""

    def digest(self, name: str, size: int, algorithms: Iterable[str] = ALGORITHMS) -> Digests:
        """Digests of the file, which must be exactly `size` bytes; never reads past it."""


class LocalSource:
    def __init__(self, directory: Path) -> None:
        if not directory.is_dir():
            raise InvalidInput(f"{directory}: not a directory")
        self._directory = directory.absolute()  # `.` still names its image/version

    @property
    def location(self) -> str:
        return str(self._directory)

    def _open(self, name: str) -> int | None:
        path = self._directory / name
        try:
            # O_NOFOLLOW: a symlink could point anywhere (/dev/zero, a file outside the release).
            return os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
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
            raise SourceProblem("refused: not a regular file")
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
                raise SourceProblem(_size_message(actual, size))
            try:
                digests = digest_stream(stream, algorithms, limit=size)
            except OSError as error:
                raise SourceProblem(f"cannot read: {error.strerror}") from None
        if digests.size != size:
            raise SourceProblem(_size_message(digests.size, size))
        return digests


def _size_message(actual: int, size: int) -> str:
    what = "truncated" if actual < size else "longer than signed"
    return f"size {actual} bytes, signed size {size} ({what})"


_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


class HttpSource:
    """A release directory served over http(s); uses Range requests to bound downloads."""

    def __init__(self, url: str) -> None:
        self._base = url if url.endswith("/") else url + "/"

    @property
    def location(self) -> str:
        return self._base

    def _get(self, name: str, headers: dict[str, str]) -> HTTPResponse | None:
        url = urllib.parse.urljoin(self._base, urllib.parse.quote(name))
        # The base URL's scheme was checked (http/https); redirects stay within http(s)/ftp.
        request = urllib.request.Request(  # noqa: S310
            url, headers={"User-Agent": "image-release", **headers}
        )
        try:
            response: HTTPResponse = urllib.request.urlopen(request, timeout=TIMEOUT)  # noqa: S310
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise SourceProblem(f"HTTP {error.code} {error.reason} from {url}") from None
        except (urllib.error.URLError, OSError) as error:
            raise SourceProblem(f"cannot download {url}: {error}") from None
        return response

    def read_small(self, name: str, limit: int) -> bytes | None:
        response = self._get(name, {})
        if response is None:
            return None
        with response:
            length = response.headers.get("Content-Length")
            if length is not None and int(length) > limit:
                raise SourceProblem(f"larger than {limit} bytes: refused")
            data = response.read(limit + 1)
        if len(data) > limit:
            raise SourceProblem(f"larger than {limit} bytes: refused")
        return data

    def digest(self, name: str, size: int, algorithms: Iterable[str] = ALGORITHMS) -> Digests:
        headers = {"Range": f"bytes=0-{size - 1}"} if size > 0 else {}
        response = self._get(name, headers)
        if response is None:
            raise SourceProblem("missing")
        with response:
            self._check_length(response, name, size)
            try:
                digests = digest_stream(response, algorithms, limit=size)
            except (OSError, HTTPException) as error:
                raise SourceProblem(f"download interrupted: {error}") from None
        if digests.size != size:
            raise SourceProblem(_size_message(digests.size, size))
        return digests

    @staticmethod
    def _check_length(response: HTTPResponse, name: str, size: int) -> None:
        """Learn the server's full size before reading: refuse a longer file unread."""
        headers = response.headers
        status = response.status
        total: int | None = None
        if status == 206:
            match = _CONTENT_RANGE.fullmatch(headers.get("Content-Range", ""))
            if not match:
                raise SourceProblem("the server sent a partial answer without its size")
            total = int(match.group(3))
        elif headers.get("Content-Length") is not None:
            total = int(headers["Content-Length"])
        if total is None:
            raise SourceProblem("refused: the server does not say the file's size")
        if total != size:
            raise SourceProblem(_size_message(total, size))


SOURCES: dict[str, Callable[[str], Source]] = {
    "http": HttpSource,
    "https": HttpSource,
}


def open_source(location: str) -> Source:
    """A source for a local path or a URL whose scheme has a registered factory."""
    scheme = urllib.parse.urlsplit(location).scheme
    if scheme and len(scheme) > 1:  # 'c:' style drive letters are not schemes
        factory = SOURCES.get(scheme)
        if factory is None:
            known = ", ".join(f"{s}://" for s in sorted(SOURCES))
            raise InvalidInput(f"{location}: cannot read {scheme}:// releases (supported: {known})")
        return factory(location)
    return LocalSource(Path(location))
