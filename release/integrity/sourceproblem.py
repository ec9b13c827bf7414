"""The one error a release source raises for a file it cannot read as expected."""

from __future__ import annotations


class SourceProblem(Exception):
    """A file of the release could not be read as expected; the message says why (the
    caller names the file)."""


def size_message(actual: int, size: int) -> str:
    what = "truncated" if actual < size else "longer than signed"
    return f"size {actual} bytes, signed size {size} ({what})"
