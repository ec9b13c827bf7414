"""A fixed VHD to an Azure page blob: only its data, resumable, create-only.

Which bytes to send is decided by pure functions over extents: the file's data extents
(SEEK_DATA/SEEK_HOLE: holes are never read) are scanned for blocks of zeros (a page blob reads
zeros where nothing was written), the non-zero runs are 512-byte aligned, what the blob's page
ranges already hold is taken away (Put Page is atomic: a page range present is a put that
landed, so a killed upload resumes from there), and the rest is cut into Put Pages of at most
4 MiB, sent in parallel with a Content-MD5 the service checks. The blob is created with the
disk's size and SHA-256 in its metadata and marked complete last; one with another size or
digest is refused.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from azure.core import MatchConditions
from azure.storage.blob import BlobClient, BlobProperties

from release.errors import InvalidInput, OperationError
from release.publish.azure_client import Exists, NotFound, call
from release.publish.mirror import Conflict, LocalFile
from release.publish.retry import Retrier

log = logging.getLogger("release.publish")

PAGE = 512
MAX_PUT = 4 << 20  # the most one Put Page takes
BLOCK = 4096  # the grain of zero detection
_WINDOW = 4 << 20
Range = tuple[int, int]  # (offset, length)


# -- pure: which bytes ---------------------------------------------------------------------


def align(offset: int, end: int, size: int) -> Range:
    """The 512-byte pages covering [offset, end), within a file of `size` (a multiple)."""
    start = offset - offset % PAGE
    stop = min(-(-end // PAGE) * PAGE, size)
    return start, stop - start


def merge(ranges: Sequence[Range]) -> list[Range]:
    out: list[Range] = []
    for offset, length in sorted(ranges):
        if out and offset <= out[-1][0] + out[-1][1]:
            last = out[-1]
            out[-1] = (last[0], max(last[0] + last[1], offset + length) - last[0])
        elif length > 0:
            out.append((offset, length))
    return out


def subtract(ranges: Sequence[Range], present: Sequence[Range]) -> list[Range]:
    """`ranges` less what `present` covers (both lists of (offset, length))."""
    out: list[Range] = []
    holes = merge(present)
    for offset, length in merge(ranges):
        start, end = offset, offset + length
        for p_off, p_len in holes:
            if p_off + p_len <= start or p_off >= end:
                continue
            if p_off > start:
                out.append((start, p_off - start))
            start = max(start, p_off + p_len)
        if start < end:
            out.append((start, end - start))
    return out


def split(ranges: Sequence[Range], most: int = MAX_PUT) -> list[Range]:
    return [
        (offset + done, min(most, length - done))
        for offset, length in ranges
        for done in range(0, length, most)
    ]


def nonzero_runs(buf: bytes | memoryview, base: int, block: int = BLOCK) -> list[Range]:
    """Runs of `buf` (at file offset `base`) whose `block`-sized pieces are not all zeros."""
    view = memoryview(buf)
    if not any(view[-1:]) and view == bytes(len(view)):  # a whole window of zeros: common
        return []
    zero = bytes(block)
    runs: list[Range] = []
    for at in range(0, len(view), block):
        piece = view[at : at + block]
        if piece == zero[: len(piece)]:
            continue
        if runs and runs[-1][0] + runs[-1][1] == base + at:
            runs[-1] = (runs[-1][0], runs[-1][1] + len(piece))
        else:
            runs.append((base + at, len(piece)))
    return runs


# -- the file: data extents and their non-zero runs -----------------------------------------


def data_extents(fd: int, size: int) -> Iterator[Range]:
    """The file's data extents (holes skipped); the whole file where the filesystem cannot
    tell."""
    offset = 0
    while offset < size:
        try:
            start = os.lseek(fd, offset, os.SEEK_DATA)
            end = os.lseek(fd, start, os.SEEK_HOLE)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # no data after offset
                return
            if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP):
                yield offset, size - offset
                return
            raise
        yield start, min(end, size) - start
        offset = end


def data_runs(path: Path) -> tuple[int, list[Range]]:
    """The file's size and its page-aligned runs of non-zero data."""
    with path.open("rb") as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        if size % PAGE:
            raise InvalidInput(
                f"{path}: {size} bytes is not a whole number of 512-byte pages: a page blob"
                " holds a fixed VHD (a whole MiB plus its 512-byte footer)"
            )
        runs: list[Range] = []
        for start, length in data_extents(fd, size):
            for at in range(start, start + length, _WINDOW):
                buf = os.pread(fd, min(_WINDOW, start + length - at), at)
                runs.extend(nonzero_runs(buf, at))
    return size, merge([align(o, o + n, size) for o, n in runs])


# -- the blob ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageUpload:
    """What one run did: bytes and Put Pages sent, bytes found already there."""

    sent: int
    puts: int
    present: int
    data: int  # non-zero bytes of the disk


def present_ranges(blob: BlobClient, retrier: Retrier) -> list[Range]:
    pages = call(retrier, f"page ranges of {blob.blob_name}", lambda: list(blob.list_page_ranges()))
    return [
        (p.start, p.end - p.start + 1)
        for p in pages
        if p.start is not None and p.end is not None and not p.cleared
    ]


def send_pages(
    blob: BlobClient,
    path: Path,
    todo: Sequence[Range],
    retrier: Retrier,
    concurrency: int,
    advance: Callable[[int], None] = lambda _: None,
) -> int:
    """Put every range of `todo` (each at most 4 MiB), in parallel; the bytes sent."""
    with path.open("rb") as f:
        fd = f.fileno()

        def put(item: Range) -> int:
            offset, length = item
            data = os.pread(fd, length, offset)
            if len(data) != length:
                raise OperationError(f"{path}: shorter than it was while uploading it")
            call(
                retrier,
                f"put pages {offset}+{length} of {blob.blob_name}",
                lambda: blob.upload_page(data, offset, length, validate_content=True),
            )
            advance(length)
            return length

        with ThreadPoolExecutor(concurrency, thread_name_prefix="page") as pool:
            return sum(pool.map(put, todo))


def upload_pages(
    blob: BlobClient,
    path: Path,
    retrier: Retrier,
    concurrency: int = 4,
    advance: Callable[[int], None] = lambda _: None,
) -> PageUpload:
    """Send the file's non-zero pages the blob does not hold yet (the blob exists, sized)."""
    _size, runs = data_runs(path)
    present = present_ranges(blob, retrier)
    todo = split(subtract(runs, present))
    data = sum(n for _, n in runs)
    held = data - sum(n for _, n in subtract(runs, present))
    sent = send_pages(blob, path, todo, retrier, concurrency, advance)
    missing = subtract(runs, present_ranges(blob, retrier))
    if missing:
        raise OperationError(
            f"{blob.blob_name}: {len(missing)} ranges of data still missing after the upload"
            f" (first at byte {missing[0][0]}); rerun to resume"
        )
    return PageUpload(sent, len(todo), held, data)


def release_metadata(f: LocalFile, image: str, version: str, complete: bool) -> dict[str, str]:
    return {
        "release_image": image,
        "release_version": version,
        "release_sha256": f.sha256,
        "release_complete": "true" if complete else "false",
    }


def properties(blob: BlobClient, retrier: Retrier) -> BlobProperties | None:
    try:
        return call(retrier, f"properties of {blob.blob_name}", blob.get_blob_properties)
    except NotFound:
        return None


def create(blob: BlobClient, f: LocalFile, meta: dict[str, str], retrier: Retrier) -> None:
    """Create the empty page blob, create-only: another run's blob is not replaced."""

    try:
        call(
            retrier,
            f"create page blob {blob.blob_name}",
            lambda: blob.create_page_blob(
                f.size, metadata=meta, match_condition=MatchConditions.IfMissing
            ),
        )
    except Exists:
        log.info("%s: created by another run meanwhile", blob.blob_name)


def check_same(blob: BlobClient, props: BlobProperties, f: LocalFile) -> None:
    theirs = (props.size, (props.metadata or {}).get("release_sha256"))
    if theirs != (f.size, f.sha256):
        raise Conflict(
            f"{blob.url}: holds another disk ({theirs[0]} bytes, sha256 {theirs[1]}) than"
            f" {f.name} ({f.size} bytes, sha256 {f.sha256}); releases are immutable"
        )


def stage_vhd(
    blob: BlobClient,
    f: LocalFile,
    image: str,
    version: str,
    retrier: Retrier,
    concurrency: int = 4,
    advance: Callable[[int], None] = lambda _: None,
) -> PageUpload | None:
    """The VHD in its page blob, complete: created, its missing pages sent, marked complete
    last. None when the blob was complete already (nothing read, nothing sent)."""
    props = properties(blob, retrier)
    if props is None:
        create(blob, f, release_metadata(f, image, version, complete=False), retrier)
        props = properties(blob, retrier)
        if props is None:
            raise OperationError(f"{blob.url}: not there after creating it")
    check_same(blob, props, f)
    if (props.metadata or {}).get("release_complete") == "true":
        return None
    done = upload_pages(blob, f.path, retrier, concurrency, advance)
    meta = release_metadata(f, image, version, complete=True)
    call(retrier, f"mark {blob.blob_name} complete", lambda: blob.set_blob_metadata(meta))
    log.info(
        "%s: %d bytes sent in %d puts, %d were there already (%d of data)",
        blob.blob_name,
        done.sent,
        done.puts,
        done.present,
        done.data,
    )
    return done
