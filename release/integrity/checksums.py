"""GNU checksum files (`md5sum.txt`, `sha1sum.txt`, `sha256sum.txt`): render and parse.

Pure: bytes in, entries out. The format is the one `sha256sum -c --strict` reads:
`HEX␠␠NAME` lines, LF, basenames only. Parsing is strict on purpose: the names come from
a download and are about to become paths, so anything that is not a plain basename of the
release directory (`../x`, `/etc/x`, NUL, newline, backslash-escaped lines) is rejected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from release.errors import VerificationError
from release.integrity.digests import HEX_LENGTH
from release.names import name_problem

CHECKSUM_FILES: Mapping[str, str] = {
    "md5": "md5sum.txt",
    "sha1": "sha1sum.txt",
    "sha256": "sha256sum.txt",
}
MAX_SIZE = 16 << 20  # a checksum file listing a release is a few KiB


class ChecksumFileError(VerificationError):
    """A checksum file that is not a plain, safe GNU checksum list."""

    def __init__(self, file: str, message: str, line: int | None = None) -> None:
        self.file = file
        self.line = line
        self.reason = message
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Entry:
    name: str
    hexdigest: str


def unsafe_name(name: str) -> str | None:
    """Why `name` may not name a file of a release directory, or None when it may."""
    if "\0" in name:
        return "contains a NUL byte"
    if "\n" in name or "\r" in name:
        return "contains a newline"
    if name.startswith("/"):
        return "is an absolute path"
    if name == ".." or name.startswith("../") or "/../" in name or name.endswith("/.."):
        return "climbs out of the release directory ('..')"
    problem = name_problem(name)
    return f"is not a plain file name: it {problem}" if problem else None


def render(entries: Iterable[Entry]) -> bytes:
    """`HEX␠␠NAME` lines sorted by name, LF-terminated."""
    lines = []
    for entry in sorted(entries, key=lambda e: e.name):
        problem = unsafe_name(entry.name)
        if problem:
            raise ValueError(f"name {entry.name!r} {problem}")
        lines.append(f"{entry.hexdigest}  {entry.name}\n")
    return "".join(lines).encode("ascii")


def parse(data: bytes, algorithm: str, file: str) -> list[Entry]:
    """Entries of a checksum file; raise ChecksumFileError naming the line on anything odd."""
    if not data:
        raise ChecksumFileError(file, "is empty")
    if not data.endswith(b"\n"):
        raise ChecksumFileError(file, "does not end with a newline (truncated?)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ChecksumFileError(file, f"is not UTF-8 text ({error.reason})") from None
    line_re = re.compile(rf"([0-9a-f]{{{HEX_LENGTH[algorithm]}}})  (.*)", re.DOTALL)
    entries: list[Entry] = []
    seen: set[str] = set()
    for number, line in enumerate(text[:-1].split("\n"), start=1):
        entries.append(_parse_line(line, line_re, algorithm, file, number))
        if entries[-1].name in seen:
            raise ChecksumFileError(file, f"lists {entries[-1].name!r} twice", number)
        seen.add(entries[-1].name)
    return entries


def _parse_line(line: str, line_re: re.Pattern[str], algo: str, file: str, number: int) -> Entry:
    if line.startswith("\\"):
        raise ChecksumFileError(file, "escaped name (backslash line) is not allowed", number)
    if "\r" in line:
        raise ChecksumFileError(file, "has a carriage return (CRLF line ends?)", number)
    match = line_re.fullmatch(line)
    if not match:
        raise ChecksumFileError(
            file,
            f"is not a '<{algo} hex>  <name>' line (lowercase hex, two spaces): {line[:80]!r}",
            number,
        )
    hexdigest, name = match.groups()
    problem = unsafe_name(name)
    if problem:
        raise ChecksumFileError(file, f"name {name!r} {problem}", number)
    return Entry(name, hexdigest)
