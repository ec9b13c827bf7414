"""S3 target (AWS and S3-compatible stores such as MinIO and Ceph via an endpoint URL).

Every object is written create-only (`IfNoneMatch='*'`) with SHA-256 checksums and our own
digest in its metadata (`x-amz-meta-sha256`), so "already there with the same bytes" is one
HEAD. Big files go up as multipart uploads whose UploadId and finished parts are in the
journal: a killed run resumes the same upload (its parts listed by `ListParts`) instead of
restarting it. Parts go up a few at a time, each read from the file when its turn comes, so
memory stays at about `concurrency * part_size`. They are read in order, once, and feed the
SHA-256 of the whole file: the upload is completed only if it is the digest the release
states (the one in the metadata), so changed local bytes are never published under it.
Clients and error translation: `aws_client`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import math
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.config import Config

from release.errors import InvalidInput, OperationError
from release.model.target import S3Target
from release.progress import Task
from release.publish.aws_client import (
    NotFound,
    Precondition,
    UploadGone,
    error_code,
    s3_client,
    translate,
)
from release.publish.journal import Part, Upload
from release.publish.mirror import LocalFile, NotSealedBytes, PutContext, Remote
from release.publish.options import Options
from release.publish.retry import Retrier, raise_as
from release.publish.upload_digest import b64, hex_to_b64, sha256_range

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import HeadObjectOutputTypeDef

log = logging.getLogger("release.publish")

T = TypeVar("T")

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


class S3Mirror:
    def __init__(self, target: S3Target, image: str, version: str, options: Options) -> None:
        self.bucket = target.bucket
        self.prefix = "/".join(p for p in (target.prefix.strip("/"), image, version) if p)
        self.endpoint = options.endpoint_url or target.endpoint_url
        self.part_size = options.part_size
        self.concurrency = max(1, options.concurrency)
        s3_config: Any = {"payload_signing_enabled": False}
        if self.endpoint:
            s3_config["addressing_style"] = "path"
        config = Config(
            retries={"total_max_attempts": 1, "mode": "standard"},  # our policy is the budget
            connect_timeout=options.connect_timeout,
            read_timeout=options.read_timeout,
            max_pool_connections=self.concurrency + 4,
            request_checksum_calculation="when_required",  # we send SHA-256 ourselves
            response_checksum_validation="when_required",
            # Bodies are covered by their signed SHA-256 checksum header, which the store
            # verifies: signing the payload too would hash every part a second time (botocore
            # does it over http; over https it skips it when a checksum header is present).
            s3=s3_config,
        )
        self._s3 = s3_client(target.region, self.endpoint, config)
        self._part_digests: dict[str, list[bytes]] = {}
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def _do(
        self,
        retrier: Retrier | None,
        what: str,
        call: Callable[[], T],
        *,
        conflict_restarts: bool = False,
    ) -> T:
        """Make one S3 call, errors translated, under the retry policy when given one. With
        `conflict_restarts` (completing an upload), a 409 ConditionalRequestConflict means the
        upload must start over (AWS), not a retry."""

        def once() -> T:
            try:
                return call()
            except Exception as exc:
                if conflict_restarts and error_code(exc) == "ConditionalRequestConflict":
                    raise UploadGone(f"{what}: 409 ConditionalRequestConflict") from exc
                raise_as(exc, translate(what, exc))

        return retrier.call(what, once) if retrier else once()

    # -- Mirror ----------------------------------------------------------------------

    def check(self) -> None:
        try:
            self._do(
                None, f"check s3://{self.bucket}", lambda: self._s3.head_bucket(Bucket=self.bucket)
            )
        except NotFound as exc:
            raise InvalidInput(
                f"s3://{self.bucket}: the bucket does not exist; create it or fix the URL"
            ) from exc

    def present(self, names: Sequence[str]) -> dict[str, Remote]:
        found = {}
        for name in names:
            head = self._head(name)
            if head is not None:
                found[name] = Remote(int(head["ContentLength"]), head["Metadata"].get("sha256"))
        return found

    def put(self, files: Sequence[LocalFile], ctx: PutContext) -> None:
        for f in files:
            self._put_one(f, ctx)

    def read_back(self, files: Sequence[LocalFile]) -> dict[str, Remote]:
        back = {}
        for f in files:
            head = self._head(f.name)
            if head is None:
                continue
            claimed = head["Metadata"].get("sha256")
            checksum = head.get("ChecksumSHA256")
            # The store's own checksum must agree with our digest when it gives one.
            if checksum is not None and not self._checksum_matches(f, str(checksum)):
                claimed = f"(store checksum {checksum} does not match)"
            back[f.name] = Remote(int(head["ContentLength"]), claimed)
        return back

    def finalize(self) -> None:
        """Nothing to do: every object was created whole and read back."""

    # -- internals -------------------------------------------------------------------

    def _head(self, name: str) -> HeadObjectOutputTypeDef | None:
        key = self.key(name)
        try:
            head = self._do(
                None,
                f"HEAD {key}",
                lambda: self._s3.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED"),
            )
        except NotFound:
            return None
        return head

    def _checksum_matches(self, f: LocalFile, checksum: str) -> bool:
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

    def _put_one(self, f: LocalFile, ctx: PutContext) -> None:
        try:
            if f.size <= part_size_for(f.size, self.part_size):
                self._put_small(f, ctx)
            else:
                self._put_multipart(f, ctx)
        except Precondition:
            log.info("%s: already created (by another run); reading it back", self.key(f.name))
        self._abort_orphans(f, ctx)

    def _put_small(self, f: LocalFile, ctx: PutContext) -> None:
        data = f.path.read_bytes()
        if (actual := hashlib.sha256(data).hexdigest()) != f.sha256:
            raise NotSealedBytes(f, actual)
        with ctx.progress(f.name, f.size) as bar:
            self._do(
                ctx.retrier,
                f"PUT {self.key(f.name)}",
                lambda: self._s3.put_object(
                    Bucket=self.bucket,
                    Key=self.key(f.name),
                    Body=data,
                    ChecksumSHA256=hex_to_b64(f.sha256),
                    IfNoneMatch="*",
                    Metadata={"sha256": f.sha256},
                ),
            )
            bar.advance(f.size)

    def _put_multipart(self, f: LocalFile, ctx: PutContext) -> None:
        for _ in range(2):  # a vanished upload is restarted once
            try:
                self._multipart_attempt(f, ctx)
                return
            except UploadGone as gone:
                log.warning("%s: the upload must start over (%s)", self.key(f.name), gone)
                ctx.journal.end_upload(f.step)
        raise OperationError(f"{self.key(f.name)}: the multipart upload vanished twice")

    def _multipart_attempt(self, f: LocalFile, ctx: PutContext) -> None:
        key = self.key(f.name)
        upload = self._resume_or_start(f, ctx)
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
            self._abort(key, upload.upload_id, ctx)
            ctx.journal.end_upload(f.step)
            raise NotSealedBytes(f, whole.hexdigest())
        digests = [bytes.fromhex(parts[n].checksum) for n, _, _ in ranges]
        with self._lock:
            self._part_digests[f.name] = digests
        self._do(
            ctx.retrier,
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
            conflict_restarts=True,
        )
        ctx.journal.end_upload(f.step)

    def _resume_or_start(self, f: LocalFile, ctx: PutContext) -> Upload:
        key = self.key(f.name)
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
        response = self._do(
            ctx.retrier,
            f"start upload {key}",
            lambda: self._s3.create_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                ChecksumAlgorithm="SHA256",
                Metadata={"sha256": f.sha256},
            ),
        )
        upload = Upload(str(response["UploadId"]), part_size_for(f.size, self.part_size), ())
        ctx.journal.begin_upload(f.step, upload.upload_id, upload.part_size)
        return upload

    def _list_parts(self, key: str, upload_id: str, ctx: PutContext) -> list[Part]:
        parts: list[Part] = []
        marker = 0
        while True:
            page = self._do(
                ctx.retrier,
                f"list parts {key}",
                functools.partial(
                    self._s3.list_parts,
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumberMarker=marker,  # bound now: the loop moves it on
                ),
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
        response = self._do(
            ctx.retrier,
            what,
            lambda: self._s3.upload_part(
                Bucket=self.bucket,
                Key=job.key,
                UploadId=job.upload.upload_id,
                PartNumber=number,
                Body=data,
                ChecksumSHA256=b64(digest),
            ),
        )
        part = Part(number, str(response["ETag"]), digest.hex(), len(data))
        ctx.journal.add_part(job.file.step, part)
        bar.advance(len(data))
        return part

    def _abort(self, key: str, upload_id: str, ctx: PutContext) -> None:
        log.info("%s: aborting the multipart upload %s", key, upload_id)
        with contextlib.suppress(UploadGone):  # completed or aborted meanwhile
            self._do(
                ctx.retrier,
                f"abort upload {key}",
                lambda: self._s3.abort_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload_id
                ),
            )

    def _abort_orphans(self, f: LocalFile, ctx: PutContext) -> None:
        """The object exists now: any multipart upload left for its key is ours and useless."""
        key = self.key(f.name)
        listing = self._do(
            ctx.retrier,
            f"list uploads {key}",
            lambda: self._s3.list_multipart_uploads(Bucket=self.bucket, Prefix=key),
        )
        for upload in listing.get("Uploads", []):
            if upload["Key"] == key:
                self._abort(key, upload["UploadId"], ctx)
        ctx.journal.end_upload(f.step)
