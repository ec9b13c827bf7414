"""rsync target: over ssh (`[user@]host:path`) or to an rsync daemon (`rsync://host/module/path`).

Each phase is one rsync run over an explicit file list (`--files-from`, which creates the
`<image>/<version>/` directories on the way), with `--partial --delay-updates`: a file is
renamed into place only when the whole run's files arrived, and an interrupted transfer
resumes from its partial file. `--ignore-existing` keeps published files immutable. Reading
back is rsync's own `--checksum` dry run: any file it would send differs from ours.
A run killed between rsync's last delayed rename and its removal of the partial dir leaves a
`.~tmp~` that no later transfer removes (nothing is left to send): `finalize` removes it.
argv is built by the pure functions below; ssh options travel in `-e` as one string.
"""

from __future__ import annotations

import re
import shlex
import tempfile
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from release import runner
from release.errors import InvalidInput, OperationError, ToolError
from release.model.target import RsyncTarget
from release.publish.mirror import LocalFile, PutContext, Remote, prove
from release.publish.retry import Transient

# rsync exit codes worth retrying: socket I/O, protocol stream, partial transfer from
# vanished connection, timeouts, daemon connection timeout.
_TRANSIENT_EXITS = {10, 11, 12, 14, 20, 30, 35}
_SSH_TRANSIENT = (
    "Connection refused",
    "Connection reset",
    "timed out",
    "Broken pipe",
    "Connection closed",
    "No route to host",
)
# Exit 5 (the protocol did not start) is transient when the daemon turned us away: it is
# restarting (no greeting, or one cut short) or at its `max connections` ("try again later").
# A refused module is exit 5 too, and stays the user's (_AUTH).
_DAEMON_BUSY = (
    "did not see server greeting",
    "didn't get server startup line",
    "max connections",
    "try again later",
)
_AUTH = ("Permission denied", "auth failed", "Host key verification failed", "Unknown module")
_LIST_LINE = re.compile(
    r"(?P<mode>[-dlcbps][rwxsStT-]{9})\s+(?P<size>[\d,.]+)\s+\S+\s+\S+\s+(?P<name>.+)"
)


def ssh_command(port: int | None, options: Sequence[str] = ()) -> list[str]:
    """ssh as rsync should run it: never prompt (fail fast instead), notice dead links."""
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=15", "-o", "ServerAliveInterval=15"]
    if port is not None:
        argv += ["-p", str(port)]
    return [*argv, *options]


def base_argv(remote_shell: list[str] | None) -> list[str]:
    argv = ["rsync", "--timeout=120", "--no-motd"]
    if remote_shell is not None:
        argv += ["-e", shlex.join(remote_shell)]
    return argv


PARTIAL_DIR = ".~tmp~"  # rsync's partial dir under --delay-updates


def clean_argv(remote_shell: list[str] | None, empty_dir: Path, remote_dir: str) -> list[str]:
    """Delete the partial dir (and only it) under remote_dir: synced from an empty dir."""
    return [
        *base_argv(remote_shell),
        "--recursive",
        "--delete",
        f"--include=/{PARTIAL_DIR}/***",
        "--exclude=*",
        f"{empty_dir}/",
        f"{remote_dir}/",
    ]


def list_argv(remote_shell: list[str] | None, remote_dir: str) -> list[str]:
    return [*base_argv(remote_shell), "--list-only", "--no-human-readable", f"{remote_dir}/"]


def push_argv(
    remote_shell: list[str] | None,
    source_root: Path,
    remote_root: str,
    bwlimit_kib: int | None = None,
) -> list[str]:
    """Send the files named on stdin (relative to source_root), whole runs atomically."""
    limit = [f"--bwlimit={bwlimit_kib}"] if bwlimit_kib else []
    return [
        *base_argv(remote_shell),
        *limit,
        "--files-from=-",
        "--from0",
        "--times",
        "--chmod=D0755,F0644",
        "--partial",
        "--delay-updates",
        "--ignore-existing",
        f"{source_root}/",
        f"{remote_root}/",
    ]


def verify_argv(remote_shell: list[str] | None, source_root: Path, remote_root: str) -> list[str]:
    """A dry run comparing content (`--checksum`): it itemizes every file that differs."""
    return [
        *base_argv(remote_shell),
        "--files-from=-",
        "--from0",
        "--dry-run",
        "--checksum",
        "--itemize-changes",
        f"{source_root}/",
        f"{remote_root}/",
    ]


def parse_listing(text: str) -> dict[str, int]:
    """`rsync --list-only` output: plain file name -> size."""
    found = {}
    for line in text.splitlines():
        match = _LIST_LINE.fullmatch(line.strip())
        if match and match["mode"].startswith("-"):
            found[match["name"]] = int(match["size"].replace(",", "").replace(".", ""))
    return found


def lists_partial_dir(text: str) -> bool:
    """Whether an `rsync --list-only` listing holds the partial dir."""
    for line in text.splitlines():
        match = _LIST_LINE.fullmatch(line.strip())
        if match and match["mode"].startswith("d") and match["name"] == PARTIAL_DIR:
            return True
    return False


def parse_itemized(text: str) -> dict[str, str]:
    """`--itemize-changes` output: path -> 'missing' or 'differs', for files rsync would send."""
    result = {}
    for line in text.splitlines():
        code, _, path = line.partition(" ")
        if len(code) == 11 and code[0] in "<>ch" and code[1] == "f":
            result[path] = "missing" if code[2:] == "+++++++++" else "differs"
    return result


def classify(error: ToolError, what: str) -> Exception:
    """An rsync failure as ours: auth problems are the user's, network trouble is transient."""
    if any(s in error.stderr for s in _AUTH):
        return InvalidInput(
            f"{what}: access denied: {error.stderr.strip().splitlines()[-1]}"
            " (check the ssh key or the rsync daemon's user and module)"
        )
    if (
        error.returncode in _TRANSIENT_EXITS
        or (error.returncode == 5 and any(s in error.stderr for s in _DAEMON_BUSY))
        or (error.returncode == 255 and any(s in error.stderr for s in _SSH_TRANSIENT))
    ):
        # One line: it may end the run as its error, and the CLI prints that as one line.
        tail = "; ".join(error.stderr.strip().splitlines()[-3:])[-300:]
        return Transient(f"{what}: rsync exit {error.returncode}: {tail}")
    return OperationError(str(error))


class RsyncMirror:
    def __init__(
        self,
        target: RsyncTarget,
        image: str,
        version: str,
        ssh_options: Sequence[str] = (),
        bwlimit_kib: int | None = None,
    ) -> None:
        self.bwlimit_kib = bwlimit_kib
        self._url = target.url
        self.relative = f"{image}/{version}"
        if target.url.startswith("rsync://"):
            self.remote_shell: list[str] | None = None
            self.remote_root = target.url.rstrip("/")
        else:
            self.remote_shell = ssh_command(target.ssh_port, ssh_options)
            self.remote_root = target.url.rstrip("/") or target.url
        self.remote_dir = f"{self.remote_root}/{self.relative}"
        self._partial_left = False  # a `.~tmp~` seen in the release dir

    @property
    def url(self) -> str:
        return self.remote_dir

    def _run(self, what: str, argv: list[str], stdin: bytes | None = None) -> runner.Result:
        try:
            return runner.run(argv, input=stdin)
        except ToolError as exc:
            raise classify(exc, what) from exc

    def check(self) -> None:
        # Listing the root (the daemon's module) proves the host, credentials and path work.
        parts = urlsplit(self.remote_root)
        if parts.scheme == "rsync":
            module = parts.path.strip("/").split("/")[0]
            where = f"rsync://{parts.netloc}/{module}/"
        else:
            where = f"{self.remote_root}/"
        argv = [*base_argv(self.remote_shell), "--list-only", "--no-human-readable", where]
        try:
            self._run(f"reach {where}", argv)
        except OperationError as exc:
            if "No such file or directory" in str(exc):
                raise InvalidInput(f"{where}: the directory does not exist on the mirror") from exc
            raise

    def present(self, names: Sequence[str]) -> dict[str, Remote]:
        try:
            result = self._run(
                f"list {self.remote_dir}", list_argv(self.remote_shell, self.remote_dir)
            )
        except OperationError as exc:
            cause = exc.__cause__
            if isinstance(cause, ToolError) and cause.returncode == 23:
                return {}  # the release directory does not exist yet
            raise
        sizes = parse_listing(result.text)
        self._partial_left = lists_partial_dir(result.text)
        return {n: Remote(sizes[n], None) for n in names if n in sizes}

    def _file_list(self, files: Sequence[LocalFile]) -> tuple[Path, bytes]:
        roots = {f.path.parent.parent.parent for f in files}  # <root>/<image>/<version>/<name>
        if len(roots) != 1:
            raise OperationError("files of one release must come from one directory")
        names = b"".join(f"{self.relative}/{f.name}".encode() + b"\0" for f in files)
        return roots.pop(), names

    def put(self, files: Sequence[LocalFile], ctx: PutContext) -> None:
        if not files:
            return
        root, names = self._file_list(files)
        local = root / self.relative
        if not all((local / f.name).resolve() == f.path.resolve() for f in files):
            raise OperationError(f"{local}: the release dir must be <image>/<version>/")
        for f in files:
            prove(f, ctx.journal)  # rsync cannot be told which digest to expect
        total = sum(f.size for f in files)
        with ctx.progress(f"{len(files)} files", total) as bar:
            argv = push_argv(self.remote_shell, root, self.remote_root, self.bwlimit_kib)
            ctx.retrier.call(
                f"rsync to {self.remote_dir}",
                lambda: self._run(f"rsync to {self.remote_dir}", argv, names),
            )
            bar.advance(total)

    def read_back(self, files: Sequence[LocalFile]) -> dict[str, Remote]:
        root, names = self._file_list(files)
        result = self._run(
            f"verify {self.remote_dir}",
            verify_argv(self.remote_shell, root, self.remote_root),
            names,
        )
        changed = parse_itemized(result.text)
        back = {}
        for f in files:
            state = changed.get(f"{self.relative}/{f.name}")
            if state == "missing":
                continue
            digest = f.sha256 if state is None else "(differs: rsync --checksum)"
            back[f.name] = Remote(f.size, digest)
        return back

    def finalize(self) -> None:
        """Remove a partial dir a killed run left (`--delay-updates` made each phase appear at
        once; a transfer in this run removed its own partial dir)."""
        if not self._partial_left:
            return
        with tempfile.TemporaryDirectory(prefix="release-rsync-") as empty:
            argv = clean_argv(self.remote_shell, Path(empty), self.remote_dir)
            self._run(f"remove {self.remote_dir}/{PARTIAL_DIR}", argv)
        self._partial_left = False
