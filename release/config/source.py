"""Where a config repo is read from: a working tree, or a git revision (no checkout needed).

One small interface, `ConfigSource`: list the files of a folder, read a file. Symlinks are
reported, never followed: a config repo is plain files.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import git

from release.errors import InvalidInput, OperationError

_SYMLINK_MODE = 0o120000


@dataclass(frozen=True)
class Entry:
    path: str  # repo-relative, '/'-separated
    is_link: bool


class ConfigSource(Protocol):
    def entries(self, folder: str) -> list[Entry]:
        """The files directly in `folder` (sorted); empty when the folder does not exist."""

    def read(self, path: str) -> bytes: ...

    @property
    def revision(self) -> str | None:
        """The commit the files come from, when known."""

    @property
    def root(self) -> Path | None:
        """The working tree, when there is one (relative target paths resolve against it)."""


class WorkTree:
    def __init__(self, root: Path) -> None:
        self._root = root.resolve()

    def entries(self, folder: str) -> list[Entry]:
        base = self._root / folder
        if not base.is_dir():
            return []
        return [
            Entry(f"{folder}/{p.name}", p.is_symlink())
            for p in sorted(base.iterdir())
            if p.is_file() or p.is_symlink()
        ]

    def read(self, path: str) -> bytes:
        return (self._root / path).read_bytes()

    @property
    def revision(self) -> str | None:
        try:
            return str(git.Repo(self._root).head.commit.hexsha)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
            return None

    @property
    def root(self) -> Path | None:
        return self._root


class GitRevision:
    def __init__(self, repo: git.Repo, rev: str) -> None:
        try:
            self._commit = repo.commit(rev)
        except (git.BadName, ValueError) as exc:
            raise InvalidInput(
                f"{rev!r} is not a revision of {repo.git_dir}: name a branch, tag or commit"
            ) from exc
        self._root = Path(repo.working_tree_dir) if repo.working_tree_dir else None
        self._listed: dict[str, git.Blob] = {}  # blobs seen by `entries`: no second tree walk

    def entries(self, folder: str) -> list[Entry]:
        try:
            tree = self._commit.tree / folder
        except KeyError:
            return []
        self._listed.update((str(blob.path), blob) for blob in tree.blobs)
        return sorted(
            (Entry(str(blob.path), blob.mode == _SYMLINK_MODE) for blob in tree.blobs),
            key=lambda e: e.path,
        )

    def read(self, path: str) -> bytes:
        blob = self._listed.get(path) or self._commit.tree / path
        data: bytes = blob.data_stream.read()
        return data

    @property
    def commit(self) -> git.Commit:
        return self._commit

    @property
    def revision(self) -> str | None:
        return str(self._commit.hexsha)

    @property
    def root(self) -> Path | None:
        return self._root


def _is_url(repo: str) -> bool:
    return "://" in repo or (repo.startswith("git@") and ":" in repo)


@contextlib.contextmanager
def open_source(repo: str = ".", rev: str | None = None) -> Iterator[ConfigSource]:
    """A working tree (no rev), a revision of a local repo, or a revision of a remote URL."""
    if _is_url(repo):
        with tempfile.TemporaryDirectory(prefix="release-config-") as tmp:
            try:
                cloned = git.Repo.clone_from(repo, tmp, bare=True)
            except git.GitCommandError as exc:
                raise OperationError(f"cannot clone {repo}: {exc.stderr.strip()}") from exc
            yield GitRevision(cloned, rev or "HEAD")
        return
    path = Path(repo)
    if not path.is_dir():
        raise InvalidInput(f"{repo}: no such directory (give the config repo's path or URL)")
    if rev is None:
        yield WorkTree(path)
        return
    try:
        local = git.Repo(path, search_parent_directories=False)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise InvalidInput(f"{repo} is not a git repository, so --rev cannot be used") from exc
    yield GitRevision(local, rev)
