"""Channel indexes on S3: compare-and-swap on the ETag, a lease lock made create-only.

`IfMatch=<etag read>` replaces an object only if nobody replaced it since; `IfNoneMatch='*'`
creates one only if it does not exist (both answer 412 otherwise). The lock is an object
created with `IfNoneMatch='*'` and deleted when done; a lock older than `LEASE` seconds, or
held by a process of this machine that is gone, was left by a writer that died and is
broken (the compare-and-swap still protects the index if that writer was only slow).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from botocore.config import Config

from release.model.target import S3Target
from release.publish.aws_client import NotFound, Precondition, call, s3_client, translate
from release.publish.indexstore import (
    INDEX_RETRY,
    LOCK_NAME,
    Changed,
    Stored,
    abandoned,
    check_name,
    content_type,
    lease_lock,
)
from release.publish.options import Options
from release.publish.retry import raise_as

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import PutObjectRequestTypeDef

log = logging.getLogger("release.publish")

T = TypeVar("T")


class S3IndexStore:
    def __init__(self, target: S3Target, options: Options) -> None:
        self.bucket = target.bucket
        self.prefix = target.prefix.strip("/")
        endpoint = options.endpoint_url or target.endpoint_url
        config = Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=options.connect_timeout,
            read_timeout=options.read_timeout,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": "path"} if endpoint else {},
        )
        self._s3 = s3_client(target.region, endpoint, config)

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def key(self, name: str) -> str:
        return "/".join(p for p in (self.prefix, check_name(name)) if p)

    @staticmethod
    def _call(what: str, fn: Callable[[], T]) -> T:
        return call(what, fn, INDEX_RETRY)

    def _put(self, what: str, request: PutObjectRequestTypeDef) -> None:
        self._call(what, lambda: self._s3.put_object(**request))

    def _delete(self, key: str) -> None:
        self._call(
            f"DELETE s3://{self.bucket}/{key}",
            lambda: self._s3.delete_object(Bucket=self.bucket, Key=key),
        )

    def read(self, name: str) -> Stored | None:
        key = self.key(name)
        what = f"GET s3://{self.bucket}/{key}"

        def get() -> Stored | None:
            try:
                got = call(what, lambda: self._s3.get_object(Bucket=self.bucket, Key=key))
            except NotFound:
                return None
            try:  # the body streams after the answer: a connection broken now is transient
                return Stored(got["Body"].read(), str(got["ETag"]))
            except Exception as exc:
                raise_as(exc, translate(what, exc))

        return INDEX_RETRY.call(what, get)

    def write(self, name: str, data: bytes, expect: Stored | None) -> None:
        key = self.key(name)
        request: PutObjectRequestTypeDef = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": data,
            "ContentType": content_type(name),
        }
        if expect is None:
            request["IfNoneMatch"] = "*"
        else:
            request["IfMatch"] = expect.token
        try:
            self._put(f"PUT s3://{self.bucket}/{key}", request)
        except Precondition as exc:
            raise Changed(f"s3://{self.bucket}/{key} changed since it was read") from exc

    def put(self, name: str, data: bytes) -> None:
        key = self.key(name)
        self._put(
            f"PUT s3://{self.bucket}/{key}",
            {"Bucket": self.bucket, "Key": key, "Body": data, "ContentType": content_type(name)},
        )

    def lock(self) -> contextlib.AbstractContextManager[None]:
        key = self.key(LOCK_NAME)
        return lease_lock(
            f"s3://{self.bucket}/{key}",
            lambda owner: self._take(key, owner),
            lambda owner: self._put(
                f"refresh lock s3://{self.bucket}/{key}",
                {"Bucket": self.bucket, "Key": key, "Body": owner},
            ),
            lambda: self._delete(key),
        )

    def _take(self, key: str, owner: bytes) -> bool:
        try:
            self._put(
                f"lock s3://{self.bucket}/{key}",
                {"Bucket": self.bucket, "Key": key, "Body": owner, "IfNoneMatch": "*"},
            )
            return True
        except Precondition:
            pass
        try:
            held = self._call(
                f"GET s3://{self.bucket}/{key}",
                lambda: self._s3.get_object(Bucket=self.bucket, Key=key),
            )
        except NotFound:
            return False  # released meanwhile: try again
        age = dt.datetime.now(dt.UTC) - held["LastModified"]
        holder = held["Body"].read()
        if holder == owner:  # our create landed, its answer was lost, the retry got 412
            return True
        if abandoned(holder, age.total_seconds()):
            log.warning("s3://%s/%s: breaking a lock left %s ago by %s", self.bucket, key, age,
                        holder.decode(errors="replace"))  # fmt: skip
            self._delete(key)
        return False
