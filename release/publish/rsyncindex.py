"""Channel indexes on an rsync mirror (ssh or daemon), written in the run's last pass.

rsync offers no lock and no conditional write, so this store is for one writer per target
at a time (the release workflow's concurrency group): `write` re-reads the object and refuses
if it changed since it was read (which narrows, but cannot close, the window), and each file
goes up with `--delay-updates`, so a reader sees the old or the new file, never a partial
one. argv is built by the pure functions below.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from release import runner
from release.errors import OperationError, ToolError
from release.model.target import RsyncTarget
from release.publish.indexstore import INDEX_RETRY, Changed, Stored, check_name
from release.publish.options import Options
from release.publish.rsync import base_argv, classify, ssh_command

_MISSING_EXIT = 23  # "some files could not be transferred": here, the file does not exist


def pull_argv(remote_shell: list[str] | None, remote_file: str, local_dir: Path) -> list[str]:
    return [*base_argv(remote_shell), remote_file, f"{local_dir}/"]


def put_argv(remote_shell: list[str] | None, source_root: Path, remote_root: str) -> list[str]:
    """Send the one file named on stdin, replacing the mirror's copy atomically.

    `--ignore-times`: an index of the same size written in the same second would otherwise
    pass rsync's size-and-time check and not be sent at all.
    """
    return [*base_argv(remote_shell), "--files-from=-", "--from0", "--chmod=D0755,F0644",
            "--ignore-times", "--delay-updates", f"{source_root}/", f"{remote_root}/"]  # fmt: skip


class RsyncIndexStore:
    def __init__(self, target: RsyncTarget, options: Options) -> None:
        self.remote_root = target.url.rstrip("/") or target.url
        url = target.url.startswith("rsync://")
        self.remote_shell = None if url else ssh_command(target.ssh_port, options.ssh_options)

    @property
    def url(self) -> str:
        return self.remote_root

    def _run(self, what: str, argv: list[str], stdin: bytes | None = None) -> None:
        """Run one rsync; a dropped connection is retried (a read, or a whole-file replace,
        is idempotent)."""

        def once() -> None:
            try:
                runner.run(argv, input=stdin)
            except ToolError as exc:
                raise classify(exc, what) from exc

        INDEX_RETRY.call(what, once)

    def read(self, name: str) -> Stored | None:
        remote = f"{self.remote_root}/{check_name(name)}"
        with tempfile.TemporaryDirectory(prefix="rel-index-") as tmp:
            try:
                self._run(f"read {remote}", pull_argv(self.remote_shell, remote, Path(tmp)))
            except OperationError as exc:
                cause = exc.__cause__
                if isinstance(cause, ToolError) and cause.returncode == _MISSING_EXIT:
                    return None
                raise
            data = (Path(tmp) / Path(name).name).read_bytes()
        return Stored(data, hashlib.sha256(data).hexdigest())

    def write(self, name: str, data: bytes, expect: Stored | None) -> None:
        now = self.read(name)
        if (now is None) != (expect is None) or (now and expect and now.token != expect.token):
            raise Changed(f"{self.remote_root}/{name} changed since it was read")
        self.put(name, data)

    def put(self, name: str, data: bytes) -> None:
        with tempfile.TemporaryDirectory(prefix="rel-index-") as tmp:
            local = Path(tmp) / check_name(name)
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(data)
            argv = put_argv(self.remote_shell, Path(tmp), self.remote_root)
            self._run(f"write {self.remote_root}/{name}", argv, name.encode() + b"\0")

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """No lock on rsync: one writer per target at a time (see the module docstring)."""
        yield
