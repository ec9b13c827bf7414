"""The publish journal: each step's outcome and the state needed to resume an upload.

SQLite in WAL mode, one transaction per record, so a kill -9 loses at most the record being
written. The journal is a record, not the truth: a rerun checks the target itself before
skipping anything. It also caches local file digests keyed by (size, mtime, inode, ctime), so
republishing a release does not re-read gigabytes to learn what it already knows.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from release.errors import OperationError

DEFAULT_PATH = Path(".release/journal.sqlite")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS steps (
    step_id TEXT PRIMARY KEY, target TEXT NOT NULL, name TEXT NOT NULL, sha256 TEXT NOT NULL,
    size INTEGER NOT NULL, state TEXT NOT NULL, detail TEXT NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS uploads (
    step_id TEXT PRIMARY KEY, upload_id TEXT NOT NULL, part_size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS parts (
    step_id TEXT NOT NULL, number INTEGER NOT NULL, etag TEXT NOT NULL, checksum TEXT NOT NULL,
    size INTEGER NOT NULL, PRIMARY KEY (step_id, number));
CREATE TABLE IF NOT EXISTS digests (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ino INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL);
"""

DONE = "done"
FAILED = "failed"


def step_id(target_url: str, name: str, sha256: str) -> str:
    """Content-addressed: the same file to the same place is the same step, in any run."""
    canonical = "\0".join(("publish/v1", target_url, name, sha256))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Part:
    number: int
    etag: str
    checksum: str  # base64 SHA-256 of the part, as S3 wants it
    size: int


@dataclass(frozen=True)
class Upload:
    upload_id: str
    part_size: int
    parts: tuple[Part, ...]


class JournalStore(Protocol):
    """What the engine and the adapters need from a journal (SQLite, or an object store)."""

    def record(
        self, step: str, target: str, name: str, sha256: str, size: int, state: str, detail: str
    ) -> None: ...
    def state(self, step: str) -> str | None: ...
    def upload(self, step: str) -> Upload | None: ...
    def begin_upload(self, step: str, upload_id: str, part_size: int) -> None: ...
    def add_part(self, step: str, part: Part) -> None: ...
    def end_upload(self, step: str) -> None: ...
    def cached_sha256(self, path: Path) -> str | None: ...
    def cache_sha256(self, path: Path, st: os.stat_result, sha256: str) -> None: ...


class Journal:
    """The SQLite journal. Thread-safe: parts of one upload are recorded from several threads."""

    def __init__(self, path: Path = DEFAULT_PATH) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = self._open()
        except (OSError, sqlite3.Error) as exc:
            raise OperationError(f"{self.path}: cannot open the publish journal: {exc}") from exc
        self._lock = threading.Lock()

    def _open(self) -> sqlite3.Connection:
        """Connect, switch to WAL and create the schema. Switching to WAL takes an exclusive
        lock and SQLite may answer "locked" at once, without waiting, while another process
        opens the same new journal: so the whole opening is retried for a while."""
        deadline = time.monotonic() + 30
        while True:
            db = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=10
            )
            try:
                db.execute("PRAGMA busy_timeout=10000")
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")  # survives process kills; enough here
                db.executescript(_SCHEMA)
            except sqlite3.OperationalError as exc:
                db.close()
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
                continue
            return db

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: tuple[object, ...]) -> list[tuple[object, ...]]:
        with self._lock:
            return list(self._db.execute(sql, args).fetchall())

    # -- steps ---------------------------------------------------------------------------

    def record(
        self, step: str, target: str, name: str, sha256: str, size: int, state: str, detail: str
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO steps VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (step, target, name, sha256, size, state, detail, time.time()),
            )

    def state(self, step: str) -> str | None:
        rows = self._query("SELECT state FROM steps WHERE step_id = ?", (step,))
        return str(rows[0][0]) if rows else None

    # -- multipart uploads ---------------------------------------------------------------

    def upload(self, step: str) -> Upload | None:
        rows = self._query("SELECT upload_id, part_size FROM uploads WHERE step_id = ?", (step,))
        if not rows:
            return None
        part_rows = self._query(
            "SELECT number, etag, checksum, size FROM parts WHERE step_id = ? ORDER BY number",
            (step,),
        )
        parts = tuple(Part(int(n), str(e), str(c), int(s)) for n, e, c, s in part_rows)  # type: ignore[call-overload]
        return Upload(str(rows[0][0]), int(rows[0][1]), parts)  # type: ignore[call-overload]

    def begin_upload(self, step: str, upload_id: str, part_size: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM parts WHERE step_id = ?", (step,))
            db.execute(
                "INSERT OR REPLACE INTO uploads VALUES (?, ?, ?)", (step, upload_id, part_size)
            )

    def add_part(self, step: str, part: Part) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO parts VALUES (?, ?, ?, ?, ?)",
                (step, part.number, part.etag, part.checksum, part.size),
            )

    def end_upload(self, step: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM parts WHERE step_id = ?", (step,))
            db.execute("DELETE FROM uploads WHERE step_id = ?", (step,))

    # -- local digests -------------------------------------------------------------------

    def cached_sha256(self, path: Path) -> str | None:
        st = path.stat()
        rows = self._query(
            "SELECT sha256 FROM digests WHERE path = ? AND size = ? AND mtime_ns = ?"
            " AND ino = ? AND ctime_ns = ?",
            (str(path), st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns),
        )
        return str(rows[0][0]) if rows else None

    def cache_sha256(self, path: Path, st: os.stat_result, sha256: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?, ?)",
                (str(path), st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns, sha256),
            )
