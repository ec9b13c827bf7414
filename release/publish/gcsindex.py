"""Channel indexes on GCS: compare-and-swap on the object generation, a create-only lock.

`if_generation_match=<generation read>` replaces an object only if nobody replaced it since;
`if_generation_match=0` creates one only if it does not exist (412 otherwise). The lock is an
object created that way, refreshed while held and deleted when done; one not refreshed for
`LEASE` seconds, or held by a process of this machine that is gone, was left by a writer
that died and is broken. google-cloud-storage is
imported here only (through the GCS mirror's client settings).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from typing import Any

from google.api_core import exceptions as gx

from release.model.target import GcsTarget
from release.publish.gcs import client_for, translate
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


class GcsIndexStore:
    def __init__(self, target: GcsTarget, options: Options) -> None:
        self.bucket_name = target.bucket
        self.prefix = target.prefix.strip("/")
        client, _ = client_for(target, options)
        self._bucket = client.bucket(self.bucket_name)

    @property
    def url(self) -> str:
        return f"gs://{self.bucket_name}/{self.prefix}".rstrip("/")

    def key(self, name: str) -> str:
        return "/".join(p for p in (self.prefix, check_name(name)) if p)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """`fn` with the library's own retries off, retried by INDEX_RETRY alone."""
        return INDEX_RETRY.call(what, lambda: self._once(what, fn, *args, **kwargs))

    def _once(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, retry=None, **kwargs)
        except gx.PreconditionFailed:
            raise
        except gx.NotFound:
            raise
        except Exception as exc:
            raise_as(exc, translate(what, exc))

    def read(self, name: str) -> Stored | None:
        blob = self._bucket.blob(self.key(name))
        try:
            data = self._call(f"GET {self.url}/{name}", blob.download_as_bytes)
        except gx.NotFound:
            return None
        return Stored(data, str(blob.generation))

    def write(self, name: str, data: bytes, expect: Stored | None) -> None:
        generation = 0 if expect is None else int(expect.token)
        blob = self._bucket.blob(self.key(name))
        try:
            self._call(f"PUT {self.url}/{name}", blob.upload_from_string, data,
                       content_type=content_type(name),
                       if_generation_match=generation)  # fmt: skip
        except gx.PreconditionFailed as exc:
            raise Changed(f"{self.url}/{name} changed since it was read") from exc

    def put(self, name: str, data: bytes) -> None:
        blob = self._bucket.blob(self.key(name))
        self._call(f"PUT {self.url}/{name}", blob.upload_from_string, data,
                   content_type=content_type(name))  # fmt: skip

    def lock(self) -> contextlib.AbstractContextManager[None]:
        blob = self._bucket.blob(self.key(LOCK_NAME))

        def release() -> None:
            with contextlib.suppress(gx.NotFound):
                self._call("unlock", blob.delete)

        return lease_lock(
            f"{self.url}/{LOCK_NAME}",
            self._take,
            lambda owner: self._call("refresh lock", blob.upload_from_string, owner),
            release,
        )

    def _take(self, owner: bytes) -> bool:
        blob = self._bucket.blob(self.key(LOCK_NAME))
        try:
            self._call("lock", blob.upload_from_string, owner, if_generation_match=0)
            return True
        except gx.PreconditionFailed:
            pass
        try:
            self._call("lock", blob.reload)
            holder = self._call("lock", blob.download_as_bytes, if_generation_match=blob.generation)
        except (gx.NotFound, gx.PreconditionFailed):
            return False  # released or replaced meanwhile: try again
        if holder == owner:  # our create landed, its answer was lost, the retry got 412
            return True
        age = dt.datetime.now(dt.UTC) - blob.updated
        if abandoned(holder, age.total_seconds()):
            log.warning("%s/%s: breaking a lock left %s ago by %s", self.url, LOCK_NAME, age,
                        holder.decode(errors="replace"))  # fmt: skip
            with contextlib.suppress(gx.NotFound, gx.PreconditionFailed):
                self._call("break lock", blob.delete, if_generation_match=blob.generation)
        return False
