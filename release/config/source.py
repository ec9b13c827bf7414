"""Where a config repo is read from: a working tree, or a git revision (no checkout needed).

One small interface, `ConfigSource`: list the files of a folder, read a file. Symlinks are
reported, never followed: a config repo is plain files.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from release.config.gitrepo import (
    Commit,
    Entry,
    GitError,
    GitRepo,
    NotARepository,
    UnknownRevision,
    clone,
    open_repo,
)
from release.errors import InvalidInput, OperationError

__all__ = ["ConfigSource", "Entry", "GitRevision", "WorkTree", "open_source"]


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
            return open_repo(self._root).commit("HEAD").sha
        except (NotARepository, UnknownRevision):
            return None

    @property
    def root(self) -> Path | None:
        return self._root


class GitRevision:
    def __init__(self, repo: GitRepo, rev: str) -> None:
        self._commit = repo.commit(rev)  # UnknownRevision names the revision and the repo
        self._repo = repo

    def entries(self, folder: str) -> list[Entry]:
        return self._repo.entries(self._commit.sha, folder)

    def read(self, path: str) -> bytes:
        data = self._repo.read(self._commit.sha, path)
        if data is None:
            raise FileNotFoundError(f"{path} is not in {self._commit.sha}")
        return data

    @property
    def repo(self) -> GitRepo:
        return self._repo

    @property
    def commit(self) -> Commit:
        return self._commit

    @property
    def revision(self) -> str | None:
        return self._commit.sha

    @property
    def root(self) -> Path | None:
        return self._repo.root


def _is_url(repo: str) -> bool:
    return "://" in repo or (repo.startswith("git@") and ":" in repo)


@contextlib.contextmanager
def open_source(repo: str = ".", rev: str | None = None) -> Iterator[ConfigSource]:
    """A working tree (no rev), a revision of a local repo, or a revision of a remote URL."""
    if _is_url(repo):
        with tempfile.TemporaryDirectory(prefix="release-config-") as tmp:
            try:
                cloned = clone(repo, tmp, bare=True)
            except GitError as exc:
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
        local = open_repo(path)
    except NotARepository as exc:
        raise InvalidInput(f"{repo} is not a git repository, so --rev cannot be used") from exc
    yield GitRevision(local, rev)
