"""The publish journal in an S3 bucket, for one run spread over several machines.

Same records as the SQLite journal, one small JSON object each, so machines publishing
parts of a release (or taking over a killed run) share step outcomes and multipart upload
state: `<prefix>/steps/<step>.json`, `<prefix>/uploads/<step>.json` and
`<prefix>/uploads/<step>/parts/<n>.json` (one object per part: concurrent writers never
overwrite each other's parts). Local file digests stay local (they describe local files).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from botocore.config import Config

from release.errors import InvalidInput
from release.publish.aws_client import NotFound, call, s3_client, translate
from release.publish.journal import Journal, Part, Upload
from release.publish.retry import Retrier, raise_as

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import ListObjectsV2RequestTypeDef

T = TypeVar("T")
Record = dict[str, str | int | float]  # one journal record, as the JSON object it is stored as


class S3Journal:
    def __init__(
        self,
        bucket: str,
        prefix: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        retrier: Retrier | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        config = Config(retries={"total_max_attempts": 1, "mode": "standard"})  # see retry.py
        self._retrier = retrier or Retrier()
        self._s3 = s3_client(region, endpoint_url, config)
        self._digests: dict[tuple[str, int, int, int, int], str] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> S3Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to flush: every record was written when it was made."""

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def _call(self, op: str, key: str, fn: Callable[[], T]) -> T:
        """`fn` (the S3 operation `op` on `key`), errors translated, under the retry policy."""
        return call(f"journal {op} s3://{self.bucket}/{key}", fn, self._retrier)

    def _put(self, key: str, data: Record) -> None:
        body = json.dumps(data, sort_keys=True).encode()
        self._call(
            "put_object", key, lambda: self._s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        )

    def _delete(self, key: str) -> None:
        self._call(
            "delete_object", key, lambda: self._s3.delete_object(Bucket=self.bucket, Key=key)
        )

    def _get(self, key: str) -> Record | None:
        what = f"journal get_object s3://{self.bucket}/{key}"

        def once() -> bytes:
            got = call(what, lambda: self._s3.get_object(Bucket=self.bucket, Key=key))
            try:  # the body streams after the answer: read it under the retry
                return got["Body"].read()
            except Exception as exc:
                raise_as(exc, translate(what, exc))

        try:
            body = self._retrier.call(what, once)
        except NotFound:
            return None
        data: Record = json.loads(body)
        return data

    def _list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        request: ListObjectsV2RequestTypeDef = {"Bucket": self.bucket, "Prefix": prefix}
        while True:
            page = self._call(
                "list_objects_v2", self.prefix, lambda: self._s3.list_objects_v2(**request)
            )
            keys += [str(o["Key"]) for o in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return keys
            request["ContinuationToken"] = str(page["NextContinuationToken"])

    # -- steps ---------------------------------------------------------------------------

    def record(
        self, step: str, target: str, name: str, sha256: str, size: int, state: str, detail: str
    ) -> None:
        self._put(
            self._key("steps", f"{step}.json"),
            {
                "target": target,
                "name": name,
                "sha256": sha256,
                "size": size,
                "state": state,
                "detail": detail,
                "updated": time.time(),
            },
        )

    def state(self, step: str) -> str | None:
        data = self._get(self._key("steps", f"{step}.json"))
        return str(data["state"]) if data else None

    # -- multipart uploads ---------------------------------------------------------------

    def upload(self, step: str) -> Upload | None:
        data = self._get(self._key("uploads", f"{step}.json"))
        if data is None:
            return None
        parts = []
        for key in self._list(self._key("uploads", step, "parts") + "/"):
            part = self._get(key)
            if part is not None:
                number, size = int(part["number"]), int(part["size"])
                parts.append(Part(number, str(part["etag"]), str(part["checksum"]), size))
        parts.sort(key=lambda p: p.number)
        return Upload(str(data["upload_id"]), int(data["part_size"]), tuple(parts))

    def begin_upload(self, step: str, upload_id: str, part_size: int) -> None:
        self._drop_parts(step)
        self._put(
            self._key("uploads", f"{step}.json"), {"upload_id": upload_id, "part_size": part_size}
        )

    def add_part(self, step: str, part: Part) -> None:
        self._put(
            self._key("uploads", step, "parts", f"{part.number:05d}.json"),
            {
                "number": part.number,
                "etag": part.etag,
                "checksum": part.checksum,
                "size": part.size,
            },
        )

    def end_upload(self, step: str) -> None:
        self._drop_parts(step)
        self._delete(self._key("uploads", f"{step}.json"))

    def _drop_parts(self, step: str) -> None:
        for key in self._list(self._key("uploads", step, "parts") + "/"):
            self._delete(key)

    # -- local digests -------------------------------------------------------------------

    def cached_sha256(self, path: Path) -> str | None:
        st = path.stat()
        with self._lock:
            return self._digests.get(_identity(path, st))

    def cache_sha256(self, path: Path, st: os.stat_result, sha256: str) -> None:
        with self._lock:
            self._digests[_identity(path, st)] = sha256


def _identity(path: Path, st: os.stat_result) -> tuple[str, int, int, int, int]:
    return (str(path), st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def open_journal(location: str, endpoint_url: str | None = None) -> Journal | S3Journal:
    """`s3://bucket/prefix` for a shared journal, else a path to the SQLite journal."""
    if location.startswith("s3://"):
        bucket, _, prefix = location[5:].partition("/")
        if not bucket:
            raise InvalidInput(f"{location}: write a shared journal as s3://bucket/prefix")
        return S3Journal(bucket, prefix, endpoint_url=endpoint_url)
    return Journal(Path(location))
