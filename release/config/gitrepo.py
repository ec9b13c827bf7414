"""The one door to git: the `GitRepo` interface and its gitpython implementation, `GitPython`.

Reading a config repo at a revision, its history, the last release tag, committing a re-pinned
channel file, and the watch's clone, fetch, tag and push all go through here. Only plain values
(`Commit`, `Entry`, shas, bytes) leave it, and gitpython's errors become ours: a path that is no
repository (`NotARepository`), a revision that names nothing (`UnknownRevision`), a git command
that failed (`GitError`, a `ToolError`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Protocol

import git

# gitdb is gitpython's own object-store dependency; it ships no type information.
from gitdb.base import IStream

from release.errors import InvalidInput, ToolError

_SYMLINK_MODE = 0o120000
_FILE_MODE = 0o100644
_NO_BLOB = "0" * 40


@dataclass(frozen=True)
class Commit:
    sha: str
    time: int  # committer time, seconds since the epoch


@dataclass(frozen=True)
class Entry:
    """A file of a tree (or folder): reported as a link, never followed."""

    path: str  # repo-relative, '/'-separated
    is_link: bool


class NotARepository(InvalidInput):
    """The path is not a git repository (or does not exist)."""


class UnknownRevision(InvalidInput):
    """A branch, tag or commit name that the repository does not have (or no commit yet)."""


class GitError(ToolError):
    """A git command failed: a remote out of reach, a push refused, a checkout impossible."""

    @classmethod
    def of(cls, exc: git.GitCommandError) -> GitError:
        status = exc.status if isinstance(exc.status, int) else -1
        return cls([str(part) for part in exc.command], status, _stderr(exc))


def _stderr(exc: git.GitCommandError) -> str:
    """What git printed, without the `stderr: '...'` wrapping gitpython adds."""
    text = str(exc.stderr).strip()
    if text.startswith("stderr: '") and text.endswith("'"):
        text = text[len("stderr: '") : -1]
    return text.strip()


class GitRepo(Protocol):
    """A git repository, as the release workflow uses it."""

    @property
    def root(self) -> Path | None:
        """The working tree; None for a bare repository."""

    def commit(self, rev: str = "HEAD") -> Commit:
        """The commit `rev` names; UnknownRevision when it names none."""

    def is_ancestor(self, old: str, new: str) -> bool: ...

    def last_tag(self, pattern: str, rev: str = "HEAD") -> str | None:
        """The newest annotated tag matching `pattern` reachable from `rev` (`git describe`)."""

    def remote_url(self, name: str = "origin") -> str | None: ...

    def entries(self, rev: str, folder: str) -> list[Entry]:
        """The files directly in `folder` at `rev` (sorted); empty when there is no folder."""

    def read(self, rev: str, path: str) -> bytes | None:
        """The file `path` at `rev`; None when `rev` has no such file."""

    def blob(self, blob_id: str) -> bytes: ...

    def file_history(self, rev: str, pathspec: str) -> dict[str, list[str]]:
        """path -> the blob ids it had in the commits behind `rev` (see `parse_raw_log`)."""

    def commits_touching(self, rev: str, path: str) -> Iterator[str]:
        """The commits behind `rev` that changed `path`, newest first."""

    def commit_file(self, parent: str, path: str, data: bytes, message: str) -> str:
        """A new commit (no branch moves): `parent`'s tree with `path` holding `data`."""

    def has_branch(self, name: str) -> bool: ...

    def valid_branch_name(self, name: str) -> bool: ...

    def create_branch(self, name: str, sha: str) -> None: ...

    def current_branch(self) -> str | None:
        """The checked-out branch; None when HEAD is detached or the repository bare."""

    def changed(self, path: str) -> bool:
        """`path` differs from HEAD, staged or in the working tree."""

    def staged(self) -> bool:
        """The index differs from HEAD."""

    def advance(self, sha: str, reflog: str, path: str) -> None:
        """Move the checked-out branch to `sha` and stage `path` as the working tree has it."""

    def fetch(self, remote: str = "origin") -> None:
        """Fetch the remote's branches and tags."""

    def checkout(self, rev: str) -> None:
        """Check `rev` out, detached, discarding local changes."""

    def set_identity(self, name: str, email: str) -> None:
        """The committer and tagger this clone records."""

    def tag(self, name: str, rev: str, message: str) -> None:
        """An annotated tag."""

    def push(self, refspec: str, remote: str = "origin") -> None: ...


def parse_raw_log(out: str) -> dict[str, list[str]]:
    """path -> blob ids, newest first, no repeats, from `git log --raw --no-abbrev --format=`.

    Deletions (the all-zero blob) are left out.
    """
    history: dict[str, list[str]] = {}
    for line in out.splitlines():
        meta, tab, path = line.partition("\t")
        fields = meta.split()
        if not line.startswith(":") or not tab or len(fields) < 4 or fields[3] == _NO_BLOB:
            continue
        blobs = history.setdefault(path, [])
        if fields[3] not in blobs:
            blobs.append(fields[3])
    return history


@contextlib.contextmanager
def _git_errors() -> Iterator[None]:
    try:
        yield
    except git.GitCommandError as exc:
        raise GitError.of(exc) from exc


def open_repo(path: Path | str) -> GitPython:
    """The repository at `path` (not a parent of it); NotARepository when there is none."""
    try:
        return GitPython(git.Repo(Path(path)))
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise NotARepository(f"{path} is not a git repository") from exc


def clone(url: str, dest: Path | str, bare: bool = False) -> GitPython:
    with _git_errors():
        return GitPython(git.Repo.clone_from(url, str(dest), bare=bare))


class GitPython:
    """`GitRepo` over gitpython."""

    def __init__(self, repo: git.Repo) -> None:
        self._repo = repo
        self._commits: dict[str, git.Commit] = {}
        self._listed: dict[tuple[str, str], git.Blob] = {}  # seen by `entries`: no second walk

    def _commit(self, rev: str) -> git.Commit:
        found = self._commits.get(rev)
        if found is None:
            try:
                found = self._repo.commit(rev)
            except (git.BadName, git.BadObject, ValueError) as exc:
                raise UnknownRevision(
                    f"{rev!r} is not a revision of {self._repo.git_dir}:"
                    " name a branch, tag or commit"
                ) from exc
            if rev == found.hexsha:  # a branch or HEAD may move; a sha names one commit
                self._commits[rev] = found
        return found

    @property
    def root(self) -> Path | None:
        tree = self._repo.working_tree_dir
        return Path(tree) if tree else None

    def commit(self, rev: str = "HEAD") -> Commit:
        found = self._commit(rev)
        return Commit(str(found.hexsha), int(found.committed_date))

    def is_ancestor(self, old: str, new: str) -> bool:
        try:
            self._repo.git.merge_base("--is-ancestor", old, new)
        except git.GitCommandError:
            return False  # not an ancestor, or not a commit here: either way, no descent
        return True

    def last_tag(self, pattern: str, rev: str = "HEAD") -> str | None:
        try:
            tag: str = self._repo.git.describe("--abbrev=0", "--match", pattern, rev)
        except git.GitCommandError:
            return None
        return tag.strip()

    def remote_url(self, name: str = "origin") -> str | None:
        remotes = self._repo.remotes
        return str(remotes[name].url) if name in remotes else None

    def entries(self, rev: str, folder: str) -> list[Entry]:
        commit = self._commit(rev)
        try:
            tree = commit.tree / folder
        except KeyError:
            return []
        self._listed.update(((commit.hexsha, str(b.path)), b) for b in tree.blobs)
        return sorted(
            (Entry(str(blob.path), blob.mode == _SYMLINK_MODE) for blob in tree.blobs),
            key=lambda e: e.path,
        )

    def read(self, rev: str, path: str) -> bytes | None:
        commit = self._commit(rev)
        blob = self._listed.get((commit.hexsha, path))
        if blob is None:
            try:
                blob = commit.tree / path
            except KeyError:
                return None
        data: bytes = blob.data_stream.read()
        return data

    def blob(self, blob_id: str) -> bytes:
        data: bytes = self._repo.odb.stream(bytes.fromhex(blob_id)).read()
        return data

    def file_history(self, rev: str, pathspec: str) -> dict[str, list[str]]:
        # `-m` includes what merges resolved; `--no-renames` keeps a renamed file's history
        # under its old path.
        with _git_errors():
            out = self._repo.git.log(
                "-m", "--raw", "--no-abbrev", "--no-renames", "--format=", rev, "--", pathspec
            )
        return parse_raw_log(out)

    def commits_touching(self, rev: str, path: str) -> Iterator[str]:
        with _git_errors():
            for commit in self._repo.iter_commits(rev, paths=path):
                yield str(commit.hexsha)

    def commit_file(self, parent: str, path: str, data: bytes, message: str) -> str:
        head = self._commit(parent)
        try:
            mode = int((head.tree / path).mode)
        except KeyError:
            mode = _FILE_MODE
        with _git_errors():
            stored = self._repo.odb.store(IStream(git.Blob.type, len(data), BytesIO(data)))
            index = git.IndexFile.from_tree(self._repo, head)  # a temporary index
            index.add([git.BaseIndexEntry((mode, stored.binsha, 0, path))], write=False)
            made = git.Commit.create_from_tree(
                self._repo, index.write_tree(), message, parent_commits=[head], head=False
            )
        return str(made.hexsha)

    def has_branch(self, name: str) -> bool:
        return name in self._repo.heads

    def valid_branch_name(self, name: str) -> bool:
        try:
            self._repo.git.check_ref_format("--branch", name)
        except git.GitCommandError:
            return False
        return True

    def create_branch(self, name: str, sha: str) -> None:
        with _git_errors():
            self._repo.create_head(name, self._commit(sha))

    def current_branch(self) -> str | None:
        if self._repo.bare or self._repo.head.is_detached:
            return None
        return str(self._repo.active_branch.name)

    def changed(self, path: str) -> bool:
        with _git_errors():
            return self._repo.is_dirty(index=True, working_tree=True, path=path)

    def staged(self) -> bool:
        with _git_errors():
            return bool(self._repo.index.diff("HEAD"))

    def advance(self, sha: str, reflog: str, path: str) -> None:
        with _git_errors():
            self._repo.head.reference.set_commit(self._commit(sha), logmsg=reflog)
            self._repo.index.add([path])

    def fetch(self, remote: str = "origin") -> None:
        with _git_errors():
            self._repo.remote(remote).fetch(tags=True)

    def checkout(self, rev: str) -> None:
        with _git_errors():
            self._repo.git.checkout("--detach", "--force", rev)

    def set_identity(self, name: str, email: str) -> None:
        with self._repo.config_writer() as config:
            config.set_value("user", "name", name)
            config.set_value("user", "email", email)

    def tag(self, name: str, rev: str, message: str) -> None:
        with _git_errors():
            self._repo.create_tag(name, ref=rev, message=message)

    def push(self, refspec: str, remote: str = "origin") -> None:
        with _git_errors():
            self._repo.remote(remote).push(refspec).raise_if_error()
