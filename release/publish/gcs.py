"""GCS target: create-only uploads, big ones resumable across runs, validated by CRC32C and MD5.

Every object is written create-only (`ifGenerationMatch=0`) with our SHA-256 in its metadata.
A file of up to one chunk goes up in one request (`upload_from_string`); its bytes are hashed
as read, so they are the sealed ones. A 412 (the object appeared since the listing, or a
retried request had already created it) is not retried: the object is read, and unless it
holds our bytes the run stops with a Conflict, the object untouched. For bigger files the
library opens an upload session (`create_resumable_upload_session`); the session URL goes in
the journal. Chunks (multiples of 256 KiB) are sent with the documented resumable protocol, so a
killed run's rerun asks the session how much it holds and sends only the rest. The finished
object's CRC32C and MD5 must equal ours. The library's own retries are off (`retry=None`);
the policy in retry.py is the whole budget. Clients and error translation: `gcp_client`.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import BinaryIO, TypeVar

import google_crc32c
import requests
from google.cloud.storage import Blob

from release.errors import InvalidInput, OperationError
from release.model.target import GcsTarget
from release.publish import gcp_client
from release.publish.gcp_client import NotFound, Precondition, SessionGone, status_error
from release.publish.journal import Upload
from release.publish.mirror import (
    Conflict,
    LocalFile,
    NotSealedBytes,
    PutContext,
    Remote,
    prove,
)
from release.publish.options import Options
from release.publish.retry import Transient

log = logging.getLogger("release.publish")

T = TypeVar("T")

GRANULE = 256 * 1024  # GCS takes resumable chunks in multiples of this
CHUNK = 32 * GRANULE  # 8 MiB
_RANGE = re.compile(r"bytes=0-(\d+)")


class _Cursor:
    """Where an upload stands; `unsure` after a failure, until the session is asked."""

    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.unsure = False
        self.finished = False


def persisted(response: requests.Response) -> int:
    """Bytes a session holds, from a 308's Range header (none: nothing yet).

    `bytes=0-0` is read as nothing: gcp-storage-emulator answers so for an empty session,
    and GCS itself never holds a lone byte of ours (chunks are whole granules).
    """
    match = _RANGE.fullmatch(response.headers.get("Range", ""))
    if not match or match.group(1) == "0":
        return 0
    return int(match.group(1)) + 1


def local_checksums(path: os.PathLike[str] | str) -> tuple[str, str]:
    """(CRC32C, MD5) of a file, base64 as GCS reports them."""
    with open(path, "rb") as f:  # noqa: PTH123 - os.PathLike accepted
        return checksums(iter(lambda: f.read(1 << 20), b""))


def checksums(chunks: Iterable[bytes] | bytes) -> tuple[str, str]:
    """(CRC32C, MD5) of some bytes, base64 as GCS reports them."""
    crc = google_crc32c.Checksum()  # type: ignore[no-untyped-call]
    md5 = hashlib.md5()  # noqa: S324 - GCS reports MD5; integrity only, not security
    for chunk in [chunks] if isinstance(chunks, bytes) else chunks:
        crc.update(chunk)  # type: ignore[no-untyped-call]
        md5.update(chunk)
    crc_digest: bytes = crc.digest()  # type: ignore[no-untyped-call]
    return base64.b64encode(crc_digest).decode(), base64.b64encode(md5.digest()).decode()


class GcsMirror:
    def __init__(self, target: GcsTarget, image: str, version: str, options: Options) -> None:
        self.bucket_name = target.bucket
        self.prefix = "/".join(p for p in (target.prefix.strip("/"), image, version) if p)
        self.timeout = (options.connect_timeout, options.read_timeout)
        endpoint = options.endpoint_url or target.endpoint_url
        self._client, credentials = gcp_client.storage_client(target.bucket, endpoint)
        self._http = gcp_client.authorized_session(credentials)
        self._bucket = self._client.bucket(self.bucket_name)

    @property
    def url(self) -> str:
        return f"gs://{self.bucket_name}/{self.prefix}"

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def _api(self, what: str, fn: Callable[[], T]) -> T:
        """One storage call, errors translated; a 404 means the bucket is not there (a missing
        object is None from `get_blob`)."""
        try:
            return gcp_client.call(what, fn)
        except NotFound as exc:
            raise InvalidInput(f"{exc}; check the bucket name") from exc

    def check(self) -> None:
        self._api(
            f"gs://{self.bucket_name}",
            lambda: self._bucket.reload(retry=None, timeout=self.timeout),
        )

    def _blob(self, name: str) -> Blob | None:
        blob: Blob | None = self._api(
            f"get {self.key(name)}",
            lambda: self._bucket.get_blob(self.key(name), retry=None, timeout=self.timeout),
        )
        return blob

    def present(self, names: Sequence[str]) -> dict[str, Remote]:
        found = {}
        for name in names:
            blob = self._blob(name)
            if blob is not None:
                found[name] = Remote(int(blob.size), (blob.metadata or {}).get("sha256"))
        return found

    def put(self, files: Sequence[LocalFile], ctx: PutContext) -> None:
        for f in files:
            try:
                if f.size <= CHUNK:
                    self._put_small(f, ctx)
                else:
                    prove(f, ctx.journal)  # the store checks CRC32C and MD5, not our SHA-256
                    self._put_resumable(f, ctx)
            except Precondition:
                ctx.journal.end_upload(f.step)
                self._check_existing(f)

    def _check_existing(self, f: LocalFile) -> None:
        """After a 412: fine if the object holds our bytes, else a Conflict."""
        blob = self._blob(f.name)
        if blob is not None and (int(blob.size), (blob.metadata or {}).get("sha256")) == (
            f.size,
            f.sha256,
        ):
            log.info("%s: already created (by another run); reading it back", blob.name)
            return
        raise Conflict(
            f"{self.url}/{f.name}: an object of that name appeared while publishing (HTTP 412"
            " on a create-only upload) and it holds other bytes; it was left untouched"
            " (releases are immutable: publish a new version instead)"
        )

    def _put_small(self, f: LocalFile, ctx: PutContext) -> None:
        data = f.path.read_bytes()
        if (actual := hashlib.sha256(data).hexdigest()) != f.sha256:
            raise NotSealedBytes(f, actual)
        key = self.key(f.name)
        blob = self._bucket.blob(key)
        blob.metadata = {"sha256": f.sha256}
        with ctx.progress(f.name, f.size) as bar:
            ctx.retrier.call(
                f"upload {key}",
                lambda: self._api(
                    f"upload {key}",
                    lambda: blob.upload_from_string(
                        data,
                        content_type="application/octet-stream",
                        if_generation_match=0,  # create-only
                        checksum=None,  # compared below, with MD5 too
                        timeout=self.timeout,
                        retry=None,
                    ),
                ),
            )
            bar.advance(f.size)
        stored = {"crc32c": blob.crc32c, "md5Hash": blob.md5_hash}
        self._check_final(f, {k: v for k, v in stored.items() if v is not None}, checksums(data))

    def _put_resumable(self, f: LocalFile, ctx: PutContext) -> None:
        for _ in range(2):  # an expired session is replaced once
            try:
                self._upload(f, ctx)
                return
            except SessionGone:
                log.warning("%s: the upload session is gone; starting over", self.key(f.name))
                ctx.journal.end_upload(f.step)
        raise OperationError(f"{self.key(f.name)}: the upload session vanished twice")

    def read_back(self, files: Sequence[LocalFile]) -> dict[str, Remote]:
        back = {}
        for f in files:
            blob = self._blob(f.name)
            if blob is None:
                continue
            claimed = (blob.metadata or {}).get("sha256")
            crc, md5 = local_checksums(f.path)
            if blob.crc32c != crc or (blob.md5_hash is not None and blob.md5_hash != md5):
                claimed = f"(store crc32c {blob.crc32c}, md5 {blob.md5_hash} do not match)"
            back[f.name] = Remote(int(blob.size), claimed)
        return back

    def finalize(self) -> None:
        """Nothing to do: every object was created whole and read back."""

    # -- the resumable protocol --------------------------------------------------------

    def _session(self, f: LocalFile, ctx: PutContext) -> tuple[str, int]:
        """The session URL and how much it holds: the recorded one, or a new one."""
        recorded: Upload | None = ctx.journal.upload(f.step)
        if recorded is not None:
            return recorded.upload_id, self._query(recorded.upload_id, f)
        blob = self._bucket.blob(self.key(f.name))
        blob.metadata = {"sha256": f.sha256}
        url = ctx.retrier.call(
            f"open upload {blob.name}",
            lambda: self._api(
                f"open upload {blob.name}",
                lambda: blob.create_resumable_upload_session(
                    size=f.size,
                    if_generation_match=0,  # create-only
                    timeout=self.timeout,
                    retry=None,
                ),
            ),
        )
        ctx.journal.begin_upload(f.step, str(url), CHUNK)
        return str(url), 0

    def _query(self, url: str, f: LocalFile) -> int:
        what = f"status of {self.key(f.name)}"
        response = self._put(what, url, b"", {"Content-Range": f"bytes */{f.size}"})
        if response.status_code in (200, 201):
            return f.size
        if response.status_code == 308:
            return persisted(response)
        raise status_error(what, response)

    def _put(self, what: str, url: str, data: bytes, headers: dict[str, str]) -> requests.Response:
        return gcp_client.call(
            what, lambda: self._http.put(url, data=data, headers=headers, timeout=self.timeout)
        )

    def _upload(self, f: LocalFile, ctx: PutContext) -> None:
        key = self.key(f.name)
        url, held = self._session(f, ctx)
        if held:
            log.info("%s: resuming upload at byte %d of %d", key, held, f.size)
        cursor = _Cursor(held)
        with ctx.progress(f.name, f.size) as bar, f.path.open("rb") as src:
            bar.advance(held)
            while not cursor.finished:
                before = cursor.offset
                ctx.retrier.call(
                    f"upload {key} from byte {before}",
                    lambda: self._send_chunk(url, f, src, cursor),
                )
                bar.advance(cursor.offset - before)
        ctx.journal.end_upload(f.step)

    def _send_chunk(self, url: str, f: LocalFile, src: BinaryIO, cursor: _Cursor) -> None:
        """Send the next chunk. After a failure, first ask the session what it holds."""
        what = f"upload {self.key(f.name)}"
        if cursor.unsure:
            cursor.offset = self._query(url, f)
            cursor.unsure = False
            if cursor.offset >= f.size and f.size > 0:
                cursor.finished = True  # it all arrived; the answer was lost
                return
        src.seek(cursor.offset)
        data = src.read(CHUNK)
        end = cursor.offset + len(data) - 1
        content_range = f"bytes {cursor.offset}-{end}/{f.size}" if data else f"bytes */{f.size}"
        try:
            response = self._put(what, url, data, {"Content-Range": content_range})
        except Transient:
            cursor.unsure = True
            raise
        if response.status_code == 308:
            cursor.offset = persisted(response)
            return
        if response.status_code in (200, 201):
            self._check_final(f, response.json(), local_checksums(f.path))
            cursor.offset, cursor.finished = f.size, True
            return
        cursor.unsure = True
        raise status_error(what, response)

    def _check_final(
        self, f: LocalFile, resource: Mapping[str, object], ours: tuple[str, str]
    ) -> None:
        crc, md5 = ours
        if resource.get("crc32c") != crc or resource.get("md5Hash", md5) != md5:
            raise OperationError(
                f"{self.key(f.name)}: the store's checksums (crc32c {resource.get('crc32c')},"
                f" md5 {resource.get('md5Hash')}) differ from ours ({crc}, {md5})"
            )
