"""The one exception root, the user-facing problem record and the documented exit codes.

Only the CLI catches `ReleaseError`; it prints `str(error)` (plus the traceback with
`--verbose`) and exits with `error.exit_code`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of the `release` command (documented in docs/cli.md)."""

    OK = 0
    FAILED = 1  # an operation failed: a tool, a network call, a build
    INVALID = 2  # invalid input or config; nothing was done
    VERIFY = 3  # verification failed: a signature, a digest, a size


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: where it is, what it is, and what to do."""

    file: str
    message: str
    line: int | None = None
    field: str | None = None
    hint: str | None = None

    def where(self) -> str:
        place = self.file
        if self.line is not None:
            place += f":{self.line}"
        if self.field:
            place += f": {self.field}"
        return place

    def __str__(self) -> str:
        text = f"{self.where()}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "field": self.field,
            "message": self.message,
            "hint": self.hint,
        }


class ReleaseError(Exception):
    """Root of every error this package raises on purpose."""

    exit_code: ExitCode = ExitCode.FAILED


class OperationError(ReleaseError):
    """Something we tried to do failed (exit 1)."""


class ToolError(OperationError):
    """An external command failed; names the command and the tail of its stderr."""

    def __init__(self, argv: list[str], returncode: int, stderr: str) -> None:
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr
        tail = "\n".join(stderr.strip().splitlines()[-10:])
        message = f"command failed with exit code {returncode}: {' '.join(argv)}"
        if tail:
            message += f"\n{tail}"
        super().__init__(message)


class ToolMissing(OperationError):
    """An external command is not installed."""

    def __init__(self, tool: str, hint: str) -> None:
        self.tool = tool
        super().__init__(f"{tool} is not installed: {hint}")


class InvalidInput(ReleaseError):
    """Bad input from the user: a flag, a file, a name (exit 2)."""

    exit_code = ExitCode.INVALID


class ConfigError(InvalidInput):
    """The config repo is invalid; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = [str(p) for p in problems]
        count = len(problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the config repo:"
        super().__init__("\n".join([head, *("  " + line for line in lines)]))


class VerificationError(ReleaseError):
    """A signature, digest or size did not check out (exit 3)."""

    exit_code = ExitCode.VERIFY
