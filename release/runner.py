"""The one way this package runs external tools.

argv is always a list (never a shell string); secrets never go in argv (pass them through
`input` or `env`). On failure the error names the command and the tail of its stderr; a
missing tool names the package that provides it.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from release import tools
from release.errors import ToolError, ToolMissing

log = logging.getLogger(__name__)

_STDERR_KEEP = 64 * 1024  # keep the tail of stderr, not all of it


@dataclass(frozen=True)
class Result:
    argv: list[str]
    returncode: int
    stdout: bytes
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")


def which(name: str) -> str | None:
    return shutil.which(name)


def _require(name: str) -> str:
    path = which(name)
    if path is None:
        tool = tools.lookup(name)
        hint = tool.install_hint() if tool else "install it and make sure it is on PATH"
        raise ToolMissing(name, hint)
    return path


def run(
    argv: Sequence[str],
    *,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    stdout: IO[bytes] | None = None,
    check: bool = True,
    timeout: float | None = None,
) -> Result:
    """Run argv; return its output, or raise ToolError naming the command on failure.

    `env` is added to the current environment. With `stdout`, output goes to that file
    instead of memory (for large streams).
    """
    args = [str(a) for a in argv]
    _require(args[0])
    full_env = {**os.environ, **env} if env else None
    log.debug("run: %s", " ".join(args))
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.run(
                args,
                input=input,
                stdin=None if input is not None else subprocess.DEVNULL,
                stdout=stdout if stdout is not None else subprocess.PIPE,
                stderr=err,
                env=full_env,
                cwd=cwd,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ToolError(args, -1, f"timed out after {timeout} s") from exc
        stderr = _tail(err)
    result = Result(args, proc.returncode, proc.stdout or b"", stderr)
    if check and proc.returncode != 0:
        raise ToolError(args, proc.returncode, stderr)
    return result


def pipeline(
    commands: Sequence[Sequence[str]],
    *,
    stdout: IO[bytes],
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """Run `a | b | c` without a shell, output to `stdout`; any failing stage raises."""
    argvs = [[str(a) for a in argv] for argv in commands]
    for argv in argvs:
        _require(argv[0])
    full_env = {**os.environ, **env} if env else None
    log.debug("pipeline: %s", " | ".join(" ".join(a) for a in argvs))
    procs: list[tuple[list[str], subprocess.Popen[bytes], IO[bytes]]] = []
    prev: IO[bytes] | None = None
    try:
        for i, argv in enumerate(argvs):
            last = i == len(argvs) - 1
            err: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in finally
            proc = subprocess.Popen(
                argv,
                stdin=prev if prev is not None else subprocess.DEVNULL,
                stdout=stdout if last else subprocess.PIPE,
                stderr=err,
                cwd=cwd,
                env=full_env,
            )
            if prev is not None:
                prev.close()  # the next stage owns the read end now
            prev = proc.stdout
            procs.append((argv, proc, err))
        codes = [proc.wait() for _, proc, _ in procs]
        for (argv, _, stage_err), code in zip(procs, codes, strict=True):
            if code != 0:
                raise ToolError(argv, code, _tail(stage_err))
    finally:
        for _, proc, stage_err in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            stage_err.close()


def version(name: str, version_argv: Sequence[str] = ("--version",)) -> str | None:
    """The first line a tool prints about its version, or None when it is not installed."""
    if which(name) is None:
        return None
    try:
        proc = subprocess.run(
            [name, *version_argv],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    out = (proc.stdout or proc.stderr).decode("utf-8", errors="replace").strip()
    return out.splitlines()[0] if out else "unknown"


def _tail(err: IO[bytes]) -> str:
    size = err.seek(0, os.SEEK_END)
    err.seek(max(0, size - _STDERR_KEEP))
    return err.read().decode("utf-8", errors="replace")


def spawn(argv: Sequence[str], *, stderr: IO[bytes]) -> subprocess.Popen[bytes]:
    """Start argv with its stdout as a pipe the caller reads as it comes (a VM's serial
    console); stdin closed, stderr to `stderr`. The caller waits for it, or kills it."""
    args = [str(a) for a in argv]
    _require(args[0])
    log.debug("spawn: %s", " ".join(args))
    return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr)
