"""A release directory served over http(s), read as a hostile server may answer.

Downloads are bounded in size (Range requests, a cap for small files) and in time: a socket
timeout limits one wait, and a watchdog shuts the connection when the document's deadline
passes, so a server trickling a byte every few seconds cannot hold the verifier. Whatever the
server sends (an error page, a malformed header, a cut connection, a redirect elsewhere)
ends as one `SourceProblem`, never a traceback.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import re
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from typing import Any

from release.integrity.deadline import Budget, Deadline
from release.integrity.digests import ALGORITHMS, Digests, digest_stream
from release.integrity.sourceproblem import SourceProblem, size_message

TIMEOUT = 60.0  # the longest wait for one packet; the deadlines bound the whole download

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
_DIGITS = re.compile(r"\d{1,19}")
_ERRORS = (OSError, http.client.HTTPException, ValueError)


class _Watchdog:
    """Shuts every socket it was given once `deadline` passes: blocked reads then return."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        self.fired = False
        self._timers: list[threading.Timer] = []

    def watch(self, sock: socket.socket) -> None:
        timer = threading.Timer(max(0.0, self.deadline.remaining()), self._fire, (sock,))
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _fire(self, sock: socket.socket) -> None:
        self.fired = True
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        for timer in self._timers:
            timer.cancel()


class _HTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, watchdog: _Watchdog, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._watchdog = watchdog

    def connect(self) -> None:
        super().connect()
        self._watchdog.watch(self.sock)


class _HTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, watchdog: _Watchdog, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._watchdog = watchdog

    def connect(self) -> None:
        super().connect()
        self._watchdog.watch(self.sock)


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, watchdog: _Watchdog) -> None:
        super().__init__()
        self._watchdog = watchdog

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_HTTPConnection, watchdog=self._watchdog), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, watchdog: _Watchdog) -> None:
        super().__init__()
        self._watchdog = watchdog

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        connection = functools.partial(_HTTPSConnection, watchdog=self._watchdog)
        return self.do_open(connection, req, context=getattr(self, "_context", None))


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects within http(s) only (urllib would also go to ftp://)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        if urllib.parse.urlsplit(newurl).scheme not in ("http", "https"):
            raise SourceProblem(f"redirected to {newurl}: only http(s) is followed")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def content_length(value: str | None) -> int | None:
    """The header's value as a size; SourceProblem for anything but plain digits."""
    if value is None:
        return None
    if not _DIGITS.fullmatch(value.strip()):
        raise SourceProblem(f"malformed Content-Length {value[:40]!r} from the server: refused")
    return int(value)


class HttpSource:
    """A release directory served over http(s); uses Range requests to bound downloads."""

    def __init__(self, url: str, budget: Budget | None = None) -> None:
        self._base = url if url.endswith("/") else url + "/"
        self._budget = budget or Budget()

    @property
    def location(self) -> str:
        return self._base

    @contextlib.contextmanager
    def _get(self, name: str, headers: dict[str, str]) -> Iterator[http.client.HTTPResponse | None]:
        """The open response (None for 404), all of it within the document's deadline."""
        url = urllib.parse.urljoin(self._base, urllib.parse.quote(name))
        deadline = self._budget.document(url)
        if deadline.passed():
            raise SourceProblem(f"not downloaded: {deadline.what} passed")
        watchdog = _Watchdog(deadline)
        opener = urllib.request.build_opener(
            _HTTPHandler(watchdog), _HTTPSHandler(watchdog), _Redirects()
        )
        # The base URL's scheme was checked (http/https); redirects stay within http(s).
        request = urllib.request.Request(  # noqa: S310
            url, headers={"User-Agent": "image-release", **headers}
        )
        try:
            with _opened(opener, request, url, min(TIMEOUT, deadline.remaining())) as response:
                yield response
        except (*_ERRORS, SourceProblem) as error:
            if watchdog.fired:
                raise SourceProblem(f"{url}: {deadline.what} passed (a slow server?)") from None
            if isinstance(error, SourceProblem):
                raise
            raise SourceProblem(f"cannot download {url}: {error or type(error).__name__}") from None
        finally:
            watchdog.cancel()
        if watchdog.fired:  # the last read may have been cut short without an error
            raise SourceProblem(f"{url}: {deadline.what} passed (a slow server?)")

    def read_small(self, name: str, limit: int) -> bytes | None:
        with self._get(name, {}) as response:
            if response is None:
                return None
            length = content_length(response.headers.get("Content-Length"))
            if length is not None and length > limit:
                raise SourceProblem(f"larger than {limit} bytes: refused")
            data = response.read(limit + 1)
        if len(data) > limit:
            raise SourceProblem(f"larger than {limit} bytes: refused")
        return data

    def digest(self, name: str, size: int, algorithms: Iterable[str] = ALGORITHMS) -> Digests:
        headers = {"Range": f"bytes=0-{size - 1}"} if size > 0 else {}
        with self._get(name, headers) as response:
            if response is None:
                raise SourceProblem("missing")
            _check_length(response, size)
            digests = digest_stream(response, algorithms, limit=size)
        if digests.size != size:
            raise SourceProblem(size_message(digests.size, size))
        return digests


@contextlib.contextmanager
def _opened(
    opener: urllib.request.OpenerDirector, request: urllib.request.Request, url: str, wait: float
) -> Iterator[http.client.HTTPResponse | None]:
    try:
        response: http.client.HTTPResponse = opener.open(request, timeout=max(wait, 0.001))
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 404:
            yield None
            return
        raise SourceProblem(f"HTTP {error.code} {error.reason} from {url}") from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, SourceProblem):
            raise error.reason from None
        raise SourceProblem(f"cannot download {url}: {error.reason}") from None
    with response:
        yield response


def _check_length(response: http.client.HTTPResponse, size: int) -> None:
    """Learn the server's full size before reading: refuse a longer file unread."""
    headers = response.headers
    total: int | None = None
    if response.status == 206:
        match = _CONTENT_RANGE.fullmatch(headers.get("Content-Range", ""))
        if not match:
            raise SourceProblem("the server sent a partial answer without its size")
        total = int(match.group(3))
    else:
        total = content_length(headers.get("Content-Length"))
    if total is None:
        raise SourceProblem("refused: the server does not say the file's size")
    if total != size:
        raise SourceProblem(size_message(total, size))
