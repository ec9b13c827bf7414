"""Channel indexes on GCS: compare-and-swap on the object generation, a create-only lock.

`if_generation_match=<generation read>` replaces an object only if nobody replaced it since;
`if_generation_match=0` creates one only if it does not exist (412 otherwise). The lock is an
object created that way, refreshed while held and deleted when done; one not refreshed for
`LEASE` seconds, or held by a process of this machine that is gone, was left by a writer
that died and is broken. Clients and error translation: `gcp_client`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from typing import TypeVar

from google.cloud.storage import Blob

from release.model.target import GcsTarget
from release.publish import gcp_client
from release.publish.gcp_client import NotFound, Precondition
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

log = logging.getLogger("release.publish")

T = TypeVar("T")


class GcsIndexStore:
    def __init__(self, target: GcsTarget, options: Options) -> None:
        self.bucket_name = target.bucket
        self.prefix = target.prefix.strip("/")
        endpoint = options.endpoint_url or target.endpoint_url
        client, _ = gcp_client.storage_client(target.bucket, endpoint)
        self._bucket = client.bucket(self.bucket_name)

    @property
    def url(self) -> str:
        return f"gs://{self.bucket_name}/{self.prefix}".rstrip("/")

    def key(self, name: str) -> str:
        return "/".join(p for p in (self.prefix, check_name(name)) if p)

    @staticmethod
    def _call(what: str, fn: Callable[[], T]) -> T:
        """`fn` (which turns the library's own retries off), retried by INDEX_RETRY alone."""
        return gcp_client.call(what, fn, INDEX_RETRY)

    def _blob(self, name: str) -> Blob:
        blob: Blob = self._bucket.blob(self.key(name))
        return blob

    def read(self, name: str) -> Stored | None:
        blob = self._blob(name)
        try:
            data: bytes = self._call(
                f"GET {self.url}/{name}", lambda: blob.download_as_bytes(retry=None)
            )
        except NotFound:
            return None
        return Stored(data, str(blob.generation))

    def write(self, name: str, data: bytes, expect: Stored | None) -> None:
        generation = 0 if expect is None else int(expect.token)
        blob = self._blob(name)
        try:
            self._call(
                f"PUT {self.url}/{name}",
                lambda: blob.upload_from_string(
                    data,
                    content_type=content_type(name),
                    if_generation_match=generation,
                    retry=None,
                ),
            )
        except Precondition as exc:
            raise Changed(f"{self.url}/{name} changed since it was read") from exc

    def put(self, name: str, data: bytes) -> None:
        blob = self._blob(name)
        self._call(
            f"PUT {self.url}/{name}",
            lambda: blob.upload_from_string(data, content_type=content_type(name), retry=None),
        )

    def lock(self) -> contextlib.AbstractContextManager[None]:
        blob = self._blob(LOCK_NAME)

        def release() -> None:
            with contextlib.suppress(NotFound):
                self._call("unlock", lambda: blob.delete(retry=None))

        return lease_lock(
            f"{self.url}/{LOCK_NAME}",
            self._take,
            lambda owner: self._call(
                "refresh lock", lambda: blob.upload_from_string(owner, retry=None)
            ),
            release,
        )

    def _take(self, owner: bytes) -> bool:
        blob = self._blob(LOCK_NAME)
        try:
            self._call(
                "lock", lambda: blob.upload_from_string(owner, if_generation_match=0, retry=None)
            )
            return True
        except Precondition:
            pass
        try:
            self._call("lock", lambda: blob.reload(retry=None))
            read = blob.generation  # the one the reload saw
            holder: bytes = self._call(
                "lock", lambda: blob.download_as_bytes(if_generation_match=read, retry=None)
            )
        except (NotFound, Precondition):
            return False  # released or replaced meanwhile: try again
        if holder == owner:  # our create landed, its answer was lost, the retry got 412
            return True
        age = dt.datetime.now(dt.UTC) - blob.updated
        if abandoned(holder, age.total_seconds()):
            log.warning("%s/%s: breaking a lock left %s ago by %s", self.url, LOCK_NAME, age,
                        holder.decode(errors="replace"))  # fmt: skip
            held = blob.generation
            with contextlib.suppress(NotFound, Precondition):
                self._call("break lock", lambda: blob.delete(if_generation_match=held, retry=None))
        return False
