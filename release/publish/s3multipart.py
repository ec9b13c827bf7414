"""Multipart uploads to S3 that a killed run resumes, and the checksums of their objects.

The UploadId and the finished parts are in the journal: a rerun resumes the same upload (its
parts listed by `ListParts`, the store being the truth) instead of restarting it. Parts go up
a few at a time, each read from the file when its turn comes, so memory stays at about
`concurrency * part_size`. They are read in order, once, and feed the SHA-256 of the whole
file: the upload is completed only if it is the digest the release states (the one in the
metadata), so changed local bytes are never published under it. An upload the store lost
(aborted, expired, or a 409 on completing it) is started over once.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import math
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING

from release.errors import OperationError
from release.progress import Task
from release.publish.aws_client import UploadGone, call
from release.publish.journal import Part, Upload
from release.publish.mirror import LocalFile, NotSealedBytes, PutContext
from release.publish.upload_digest import b64, hex_to_b64, sha256_range

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger("release.publish")


MIN_PART = 5 * 1024 * 1024  # S3's floor for every part but the last
DEFAULT_PART = 16 * 1024 * 1024
MAX_PARTS = 10_000


def part_size_for(size: int, wanted: int | None = None) -> int:
    """A part size that keeps the part count under S3's limit (whole MiB, at least 5 MiB)."""
    size_ = max(wanted or DEFAULT_PART, MIN_PART, math.ceil(size / MAX_PARTS))
    mib = 1024 * 1024
    return math.ceil(size_ / mib) * mib


def part_ranges(size: int, part_size: int) -> list[tuple[int, int, int]]:
    """(part number, offset, length) for every part of a file."""
    count = max(1, math.ceil(size / part_size))
    return [(n + 1, n * part_size, min(part_size, size - n * part_size)) for n in range(count)]


def composite_checksum(part_digests: Sequence[bytes]) -> str:
    """S3's checksum of a multipart object: SHA-256 over the parts' raw SHA-256 digests."""
    return b64(hashlib.sha256(b"".join(part_digests)).digest())


@dataclass(frozen=True)
class _Job:
    file: LocalFile
    fd: int
    upload: Upload
    key: str


class MultipartUploader:
    """The multipart uploads of one bucket; the part digests of each file it sent, so that a
    composite checksum can be checked without reading the file again."""

    def __init__(self, s3: S3Client, bucket: str, part_size: int | None, concurrency: int) -> None:
        self._s3 = s3
        self.bucket = bucket
        self.part_size = part_size
        self.concurrency = concurrency
        self._part_digests: dict[str, list[bytes]] = {}
        self._lock = threading.Lock()

    def checksum_matches(self, f: LocalFile, checksum: str) -> bool:
        """The store's SHA-256 checksum of the object is that of `f`: its digest, or the
        composite one over its parts."""
        value = checksum.split("-")[0]  # AWS appends -N to composite checksums
        if value == hex_to_b64(f.sha256):
            return True
        with self._lock:
            digests = self._part_digests.get(f.name)
        if digests is None:
            fd = os.open(f.path, os.O_RDONLY)
            try:
                ranges = part_ranges(f.size, part_size_for(f.size, self.part_size))
                digests = [sha256_range(fd, off, n) for _, off, n in ranges]
            finally:
                os.close(fd)
        return value == composite_checksum(digests)

    def put(self, f: LocalFile, key: str, ctx: PutContext) -> None:
        """Upload `f` as `key`, create-only, resuming the upload the journal records."""
        for _ in range(2):  # a vanished upload is restarted once
            try:
                self._attempt(f, key, ctx)
                return
            except UploadGone as gone:
                log.warning("%s: the upload must start over (%s)", key, gone)
                ctx.journal.end_upload(f.step)
        raise OperationError(f"{key}: the multipart upload vanished twice")

    def _attempt(self, f: LocalFile, key: str, ctx: PutContext) -> None:
        upload = self._resume_or_start(f, key, ctx)
        ranges = part_ranges(f.size, upload.part_size)
        whole = hashlib.sha256()
        fd = os.open(f.path, os.O_RDONLY)
        try:
            job = _Job(f, fd, upload, key)
            with ctx.progress(f.name, f.size) as bar:
                parts = {p.number: p for p in self._send_parts(job, ranges, whole, ctx, bar)}
        finally:
            os.close(fd)
        if whole.hexdigest() != f.sha256:
            self.abort(key, upload.upload_id, ctx)
            ctx.journal.end_upload(f.step)
            raise NotSealedBytes(f, whole.hexdigest())
        digests = [bytes.fromhex(parts[n].checksum) for n, _, _ in ranges]
        with self._lock:
            self._part_digests[f.name] = digests
        call(
            f"complete {key}",
            lambda: self._s3.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload.upload_id,
                MultipartUpload={
                    "Parts": [
                        {
                            "PartNumber": n,
                            "ETag": parts[n].etag,
                            "ChecksumSHA256": b64(digests[n - 1]),
                        }
                        for n, _, _ in ranges
                    ]
                },
                IfNoneMatch="*",
            ),
            ctx.retrier,
            conflict_restarts=True,
        )
        ctx.journal.end_upload(f.step)

    def _resume_or_start(self, f: LocalFile, key: str, ctx: PutContext) -> Upload:
        recorded = ctx.journal.upload(f.step)
        if recorded is not None:
            listed = self._list_parts(key, recorded.upload_id, ctx)
            known = {p.number: p for p in recorded.parts}
            # The store is the truth: keep parts it holds; our checksum where we recorded one.
            parts = tuple(
                Part(p.number, p.etag, known[p.number].checksum, p.size)
                if p.number in known and known[p.number].etag == p.etag
                else p
                for p in listed
            )
            log.info("%s: resuming upload with %d of its parts already sent", key, len(parts))
            return Upload(recorded.upload_id, recorded.part_size, parts)
        response = call(
            f"start upload {key}",
            lambda: self._s3.create_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                ChecksumAlgorithm="SHA256",
                Metadata={"sha256": f.sha256},
            ),
            ctx.retrier,
        )
        upload = Upload(str(response["UploadId"]), part_size_for(f.size, self.part_size), ())
        ctx.journal.begin_upload(f.step, upload.upload_id, upload.part_size)
        return upload

    def _list_parts(self, key: str, upload_id: str, ctx: PutContext) -> list[Part]:
        parts: list[Part] = []
        marker = 0
        while True:
            page = call(
                f"list parts {key}",
                functools.partial(
                    self._s3.list_parts,
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumberMarker=marker,  # bound now: the loop moves it on
                ),
                ctx.retrier,
            )
            for p in page.get("Parts", []):
                parts.append(Part(int(p["PartNumber"]), str(p["ETag"]), "", int(p["Size"])))
            if not page.get("IsTruncated"):
                return parts
            marker = int(page["NextPartNumberMarker"])

    def _send_parts(
        self,
        job: _Job,
        ranges: list[tuple[int, int, int]],
        whole: hashlib._Hash,
        ctx: PutContext,
        bar: Task,
    ) -> Iterator[Part]:
        """Every part of the file, read once and in order into `whole` (the proof of the
        file's digest), uploaded unless the store holds it already; at most `concurrency`
        parts in flight (and in memory) at once."""
        held = {p.number: p for p in job.upload.parts}
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="s3-part") as pool:
            pending: set[Future[Part]] = set()
            try:
                for number, offset, length in ranges:
                    if len(pending) >= self.concurrency:
                        finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                        yield from (fut.result() for fut in finished)
                    data = os.pread(job.fd, length, offset)
                    if len(data) != length:
                        raise OperationError(f"{job.file.path}: shrank while publishing; rerun")
                    kept = self._held_part(held.get(number), data)
                    if kept is None:
                        pending.add(pool.submit(self._send_part, job, number, data, ctx, bar))
                    whole.update(data)  # while the part goes up
                    if kept is not None:
                        bar.advance(length)
                        yield kept
                for fut in list(pending):
                    yield fut.result()
                    pending.discard(fut)
            finally:
                for fut in pending:
                    fut.cancel()

    @staticmethod
    def _held_part(part: Part | None, data: bytes) -> Part | None:
        """A part the store holds, with its digest, if it holds these very bytes."""
        if part is None or part.size != len(data):
            return None
        digest = hashlib.sha256(data).hexdigest()
        if part.checksum and part.checksum != digest:
            return None  # sent by a run that read other bytes than these
        return Part(part.number, part.etag, digest, part.size)

    def _send_part(self, job: _Job, number: int, data: bytes, ctx: PutContext, bar: Task) -> Part:
        digest = hashlib.sha256(data).digest()
        what = f"upload part {number} of {job.key}"
        response = call(
            what,
            lambda: self._s3.upload_part(
                Bucket=self.bucket,
                Key=job.key,
                UploadId=job.upload.upload_id,
                PartNumber=number,
                Body=data,
                ChecksumSHA256=b64(digest),
            ),
            ctx.retrier,
        )
        part = Part(number, str(response["ETag"]), digest.hex(), len(data))
        ctx.journal.add_part(job.file.step, part)
        bar.advance(len(data))
        return part

    def abort(self, key: str, upload_id: str, ctx: PutContext) -> None:
        log.info("%s: aborting the multipart upload %s", key, upload_id)
        with contextlib.suppress(UploadGone):  # completed or aborted meanwhile
            call(
                f"abort upload {key}",
                lambda: self._s3.abort_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload_id
                ),
                ctx.retrier,
            )

    def abort_orphans(self, f: LocalFile, key: str, ctx: PutContext) -> None:
        """The object exists now: any multipart upload left for its key is ours and useless."""
        listing = call(
            f"list uploads {key}",
            lambda: self._s3.list_multipart_uploads(Bucket=self.bucket, Prefix=key),
            ctx.retrier,
        )
        for upload in listing.get("Uploads", []):
            if upload["Key"] == key:
                self.abort(key, upload["UploadId"], ctx)
        ctx.journal.end_upload(f.step)
