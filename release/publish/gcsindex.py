"""Channel indexes on GCS: compare-and-swap on the object generation, a create-only lock.

`if_generation_match=<generation read>` replaces an object only if nobody replaced it since;
`if_generation_match=0` creates one only if it does not exist (412 otherwise). The lock is an
object created that way, refreshed while held and deleted when done; one not refreshed for
`LEASE` seconds was left by a writer that died and is broken. google-cloud-storage is
imported here only (through the GCS mirror's client settings).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import google.auth
import google.cloud.storage as storage
from google.api_core import exceptions as gx
from google.auth.credentials import AnonymousCredentials

from release.errors import InvalidInput, OperationError
from release.model.target import GcsTarget
from release.publish.gcs import translate
from release.publish.indexstore import LOCK_NAME, Changed, Stored, check_name
from release.publish.targets import Options

log = logging.getLogger("release.publish")

LEASE = 300.0
REFRESH = 60.0
WAIT = 4 * 3600.0


class GcsIndexStore:
    def __init__(self, target: GcsTarget, options: Options) -> None:
        self.bucket_name = target.bucket
        self.prefix = target.prefix.strip("/")
        endpoint = options.endpoint_url or target.endpoint_url
        if endpoint:  # an emulator or a private endpoint: no Google credentials involved
            credentials: Any = AnonymousCredentials()  # type: ignore[no-untyped-call]
            project: str | None = "local"
            client_options: dict[str, str] = {"api_endpoint": endpoint}
        else:
            try:
                credentials, project = google.auth.default()
            except google.auth.exceptions.DefaultCredentialsError as exc:
                raise InvalidInput(f"gs://{target.bucket}: no Google credentials: {exc}") from exc
            client_options = {}
        client = storage.Client(
            project=project, credentials=credentials, client_options=client_options
        )
        self._bucket = client.bucket(self.bucket_name)

    @property
    def url(self) -> str:
        return f"gs://{self.bucket_name}/{self.prefix}".rstrip("/")

    def key(self, name: str) -> str:
        return "/".join(p for p in (self.prefix, check_name(name)) if p)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gx.PreconditionFailed:
            raise
        except gx.NotFound:
            raise
        except Exception as exc:
            translated = translate(what, exc)
            if translated is exc:
                raise
            raise translated from exc

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
                       if_generation_match=generation)  # fmt: skip
        except gx.PreconditionFailed as exc:
            raise Changed(f"{self.url}/{name} changed since it was read") from exc

    def put(self, name: str, data: bytes) -> None:
        blob = self._bucket.blob(self.key(name))
        self._call(f"PUT {self.url}/{name}", blob.upload_from_string, data)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        owner = f"{socket.gethostname()}:{os.getpid()}".encode()
        deadline = time.monotonic() + WAIT
        delay = 0.05
        while not self._take(owner):
            if time.monotonic() > deadline:
                raise OperationError(
                    f"{self.url}/{LOCK_NAME}: the index lock is held by another writer;"
                    " rerun when it is done"
                )
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
        stop = threading.Event()
        beat = threading.Thread(target=self._refresh, args=(owner, stop), daemon=True)
        beat.start()
        try:
            yield
        finally:
            stop.set()
            beat.join()
            with contextlib.suppress(gx.NotFound):
                self._call("unlock", self._bucket.blob(self.key(LOCK_NAME)).delete)

    def _take(self, owner: bytes) -> bool:
        blob = self._bucket.blob(self.key(LOCK_NAME))
        try:
            self._call("lock", blob.upload_from_string, owner, if_generation_match=0)
            return True
        except gx.PreconditionFailed:
            pass
        try:
            self._call("lock", blob.reload)
        except gx.NotFound:
            return False  # released meanwhile: try again
        age = dt.datetime.now(dt.UTC) - blob.updated
        if age.total_seconds() > LEASE:
            log.warning("%s/%s: breaking a lock left %s ago", self.url, LOCK_NAME, age)
            with contextlib.suppress(gx.NotFound, gx.PreconditionFailed):
                self._call("break lock", blob.delete, if_generation_match=blob.generation)
        return False

    def _refresh(self, owner: bytes, stop: threading.Event) -> None:
        while not stop.wait(REFRESH):
            try:
                self._bucket.blob(self.key(LOCK_NAME)).upload_from_string(owner)
            except Exception as exc:  # a missed beat is retried at the next one
                log.warning("%s/%s: cannot refresh the lock: %s", self.url, LOCK_NAME, exc)
