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
from typing import Any

from botocore.config import Config

from release.model.target import S3Target
from release.publish.aws_client import NotFound, Precondition, s3_client, translate
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

log = logging.getLogger("release.publish")


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

    def _call(self, what: str, op: str, **kwargs: Any) -> Any:
        return INDEX_RETRY.call(what, lambda: self._once(what, op, **kwargs))

    def _once(self, what: str, op: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._s3, op)(Bucket=self.bucket, **kwargs)
        except Exception as exc:
            raise_as(exc, translate(what, exc))

    def read(self, name: str) -> Stored | None:
        key = self.key(name)
        what = f"GET s3://{self.bucket}/{key}"

        def get() -> Stored | None:
            try:
                got = self._once(what, "get_object", Key=key)
            except NotFound:
                return None
            try:  # the body streams after the answer: a connection broken now is transient
                return Stored(got["Body"].read(), str(got["ETag"]))
            except Exception as exc:
                raise_as(exc, translate(what, exc))

        return INDEX_RETRY.call(what, get)

    def write(self, name: str, data: bytes, expect: Stored | None) -> None:
        key = self.key(name)
        condition = {"IfNoneMatch": "*"} if expect is None else {"IfMatch": expect.token}
        try:
            self._call(f"PUT s3://{self.bucket}/{key}", "put_object", Key=key, Body=data,
                       ContentType=content_type(name), **condition)  # fmt: skip
        except Precondition as exc:
            raise Changed(f"s3://{self.bucket}/{key} changed since it was read") from exc

    def put(self, name: str, data: bytes) -> None:
        key = self.key(name)
        self._call(f"PUT s3://{self.bucket}/{key}", "put_object", Key=key, Body=data,
                   ContentType=content_type(name))  # fmt: skip

    def lock(self) -> contextlib.AbstractContextManager[None]:
        key = self.key(LOCK_NAME)
        return lease_lock(
            f"s3://{self.bucket}/{key}",
            lambda owner: self._take(key, owner),
            lambda owner: self._call(
                f"refresh lock s3://{self.bucket}/{key}", "put_object", Key=key, Body=owner
            ),
            lambda: self._call(f"DELETE s3://{self.bucket}/{key}", "delete_object", Key=key),
        )

    def _take(self, key: str, owner: bytes) -> bool:
        try:
            self._call(f"lock s3://{self.bucket}/{key}", "put_object", Key=key, Body=owner,
                       IfNoneMatch="*")  # fmt: skip
            return True
        except Precondition:
            pass
        try:
            held = self._call(f"GET s3://{self.bucket}/{key}", "get_object", Key=key)
        except NotFound:
            return False  # released meanwhile: try again
        age = dt.datetime.now(dt.UTC) - held["LastModified"]
        holder = held["Body"].read()
        if holder == owner:  # our create landed, its answer was lost, the retry got 412
            return True
        if abandoned(holder, age.total_seconds()):
            log.warning("s3://%s/%s: breaking a lock left %s ago by %s", self.bucket, key, age,
                        holder.decode(errors="replace"))  # fmt: skip
            self._call(f"DELETE s3://{self.bucket}/{key}", "delete_object", Key=key)
        return False
