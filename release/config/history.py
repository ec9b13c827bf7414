"""The versions an image definition had in git history: what a channel may pin or roll back to."""

from __future__ import annotations

from collections.abc import Iterator

import git

from release.config.source import ConfigSource, GitRevision, WorkTree
from release.config.yamldoc import parse
from release.errors import Problem


def commit_of(source: ConfigSource) -> git.Commit | None:
    """The commit behind a source: its revision, or a working tree's HEAD (None outside git)."""
    if isinstance(source, GitRevision):
        return source.commit
    if isinstance(source, WorkTree) and source.root is not None:
        try:
            return git.Repo(source.root).head.commit
        except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
            return None
    return None


def source_versions(source: ConfigSource, path: str) -> Iterator[str]:
    """`versions_in_history` behind the source's commit; nothing when it has no git history."""
    commit = commit_of(source)
    if commit is not None:
        yield from versions_in_history(commit, path)


def versions_in_history(commit: git.Commit, path: str) -> Iterator[str]:
    """The `version` of the file at `path` in every commit behind `commit` that touched it.

    Newest first, repeats included; commits where the file did not parse are skipped.
    """
    for old in commit.repo.iter_commits(commit, paths=path):
        try:
            raw = (old.tree / path).data_stream.read()
        except KeyError:
            continue
        doc = parse(path, raw)
        if not isinstance(doc, Problem) and isinstance(doc.data, dict):
            version = doc.data.get("version")
            if isinstance(version, str):
                yield version
