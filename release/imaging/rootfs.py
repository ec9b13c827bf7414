"""What the cloud template does to a root tree, as data (`TreeEdit`), and applying it.

A `TreeEdit` is pure data: whole files, `KEY value` lines set in existing files, symlinks,
and paths (globs) that must not exist. The feature table (`features.py`) produces one per
feature; the installroot builder applies it with `apply_edit`, and the kickstart renderer
turns the same edit into its `%post` script, so both renderings carry the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import MappingProxyType

from release.errors import OperationError

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class TreeEdit:
    files: Mapping[str, str] = field(default_factory=lambda: _EMPTY)  # path -> content
    lines: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # path -> "KEY value"
    links: Mapping[str, str] = field(default_factory=lambda: _EMPTY)  # path -> target
    removals: tuple[str, ...] = ()  # absolute globs
    # absolute glob -> file names kept: every other match is removed (ifcfg-* but eth0, lo)
    prune: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def merge(self, other: TreeEdit) -> TreeEdit:
        lines = dict(self.lines)
        for path, more in other.lines.items():
            lines[path] = (*lines.get(path, ()), *more)
        return TreeEdit(
            files={**self.files, **other.files},
            lines=lines,
            links={**self.links, **other.links},
            removals=(*self.removals, *other.removals),
            prune={**self.prune, **other.prune},
        )


def set_line(text: str, line: str) -> str:
    """`text` with the first line that sets `line`'s key (`KEY value` or `KEY=value`) replaced
    by `line` and later ones dropped, or `line` appended when none does. Commented-out
    defaults stay. The kickstart's `setline` shell function does the same."""
    key = re.split(r"[ =]", line, maxsplit=1)[0]
    out: list[str] = []
    done = False
    for existing in text.splitlines():
        if existing.startswith(key) and existing[len(key) : len(key) + 1] in (" ", "\t", "="):
            if not done:
                out.append(line)
                done = True
            continue
        out.append(existing)
    if not done:
        out.append(line)
    return "\n".join(out) + "\n"


def _inside(root: Path, path: str) -> Path:
    """`path` (absolute, image-side) under `root`; the paths come from our own table, but a
    template value (hostname, user) must never steer a write outside the tree."""
    pure = PurePosixPath(path)
    if not pure.is_absolute() or ".." in pure.parts:
        raise OperationError(f"refusing to write {path!r}: not a plain absolute path")
    return root / pure.relative_to("/")


def _no_symlink_parents(root: Path, target: Path) -> None:
    # Never follow a link the packages put in the tree (e.g. /etc/localtime) out of it.
    current = target.parent
    while current != root and current != current.parent:
        if current.is_symlink():
            raise OperationError(f"refusing to write through the symlink {current}")
        current = current.parent


def apply_edit(root: Path, edit: TreeEdit) -> None:
    """Apply `edit` to the tree at `root`: removals first, then files, lines, links."""
    pruned = (
        (pattern, found)
        for pattern, keep in edit.prune.items()
        for found in root.glob(pattern.lstrip("/"))
        if found.name not in keep
    )
    removed = ((p, found) for p in edit.removals for found in root.glob(p.lstrip("/")))
    for pattern, found in (*removed, *pruned):
        if found.is_dir() and not found.is_symlink():
            raise OperationError(f"template removal {pattern!r} matches a directory: {found}")
        found.unlink()
    for path, content in edit.files.items():
        target = _inside(root, path)
        _no_symlink_parents(root, target)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink():
            target.unlink()
        target.write_text(content)
        target.chmod(0o644)
    for path, new_lines in edit.lines.items():
        target = _inside(root, path)
        _no_symlink_parents(root, target)
        text = target.read_text() if target.exists() else ""
        for line in new_lines:
            text = set_line(text, line)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    for path, link_to in edit.links.items():
        target = _inside(root, path)
        _no_symlink_parents(root, target)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            target.unlink()
        target.symlink_to(link_to)


def fstab(root_uuid: str) -> str:
    # No swap line: the seed has no swap (a swap file can be added at boot).
    return f"UUID={root_uuid} / ext4 defaults 1 1\n"
