"""Names that become file and object names: checked before they touch a filesystem or a URL."""

from __future__ import annotations

import re

# Letters, digits, '.', '_', '-', '+'; starting with a letter or digit. No '/', no '..',
# no whitespace, no control characters: safe as a path component and an object key part.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")


def name_problem(name: str) -> str | None:
    """Why `name` cannot be used as a file or object name, or None if it can."""
    if not name:
        return "is empty"
    if "/" in name or "\\" in name:
        return "contains a path separator"
    if ".." in name:
        return "contains '..'"
    if any(c.isspace() for c in name):
        return "contains whitespace"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "contains a control character"
    if not _NAME.fullmatch(name):
        return (
            "must start with a letter or digit and use only letters, digits, '.', '_', '-', '+'"
            " (at most 128 characters)"
        )
    return None


def check_name(name: str) -> str:
    """Return `name` if it is safe, else raise ValueError (pydantic turns it into a field error)."""
    problem = name_problem(name)
    if problem:
        raise ValueError(f"name {name!r} {problem}")
    return name
