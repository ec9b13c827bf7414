"""S3 target (AWS and S3-compatible stores such as MinIO and Ceph via an endpoint URL).

Every object is written create-only (`IfNoneMatch='*'`) with SHA-256 checksums and our own
digest in its metadata (`x-amz-meta-sha256`), so "already there with the same bytes" is one
HEAD. A small file goes up in one PUT of the bytes that were hashed; big files go up as
multipart uploads that a killed run resumes (`s3multipart`). Clients and error translation:
`aws_client`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from botocore.config import Config

from release.errors import InvalidInput
from release.model.target import S3Target
from release.publish.aws_client import NotFound, Precondition, call, s3_client
from release.publish.mirror import LocalFile, NotSealedBytes, PutContext, Remote
from release.publish.options import Options
from release.publish.s3multipart import MultipartUploader, part_size_for
from release.publish.upload_digest import hex_to_b64

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import HeadObjectOutputTypeDef

log = logging.getLogger("release.publish")


class S3Mirror:
    def __init__(self, target: S3Target, image: str, version: str, options: Options) -> None:
        self.bucket = target.bucket
        self.prefix = "/".join(p for p in (target.prefix.strip("/"), image, version) if p)
        self.endpoint = options.endpoint_url or target.endpoint_url
        self.part_size = options.part_size
        self.concurrency = max(1, options.concurrency)
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
            s3=(
                {"payload_signing_enabled": False, "addressing_style": "path"}
                if self.endpoint
                else {"payload_signing_enabled": False}
            ),
        )
        self._s3 = s3_client(target.region, self.endpoint, config)
        self._multipart = MultipartUploader(self._s3, self.bucket, self.part_size, self.concurrency)

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def check(self) -> None:
        try:
            call(f"check s3://{self.bucket}", lambda: self._s3.head_bucket(Bucket=self.bucket))
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
            if checksum is not None and not self._multipart.checksum_matches(f, str(checksum)):
                claimed = f"(store checksum {checksum} does not match)"
            back[f.name] = Remote(int(head["ContentLength"]), claimed)
        return back

    def finalize(self) -> None:
        """Nothing to do: every object was created whole and read back."""

    # -- internals -------------------------------------------------------------------

    def _head(self, name: str) -> HeadObjectOutputTypeDef | None:
        key = self.key(name)
        try:
            head = call(
                f"HEAD {key}",
                lambda: self._s3.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED"),
            )
        except NotFound:
            return None
        return head

    def _put_one(self, f: LocalFile, ctx: PutContext) -> None:
        try:
            if f.size <= part_size_for(f.size, self.part_size):
                self._put_small(f, ctx)
            else:
                self._multipart.put(f, self.key(f.name), ctx)
        except Precondition:
            log.info("%s: already created (by another run); reading it back", self.key(f.name))
        self._multipart.abort_orphans(f, self.key(f.name), ctx)

    def _put_small(self, f: LocalFile, ctx: PutContext) -> None:
        data = f.path.read_bytes()
        if (actual := hashlib.sha256(data).hexdigest()) != f.sha256:
            raise NotSealedBytes(f, actual)
        with ctx.progress(f.name, f.size) as bar:
            call(
                f"PUT {self.key(f.name)}",
                lambda: self._s3.put_object(
                    Bucket=self.bucket,
                    Key=self.key(f.name),
                    Body=data,
                    ChecksumSHA256=hex_to_b64(f.sha256),
                    IfNoneMatch="*",
                    Metadata={"sha256": f.sha256},
                ),
                ctx.retrier,
            )
            bar.advance(f.size)
