"""The versions an image definition had in git history: what a channel may pin or roll back to.

One `git log --raw` per revision lists the blob every commit gave each file (instead of one
walk per file), and the version of a blob is read once: large repos with long histories stay
fast (see bench/plan.py).
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from release.config.gitrepo import GitRepo, NotARepository, UnknownRevision, open_repo
from release.config.source import ConfigSource, GitRevision, WorkTree
from release.config.yamldoc import parse
from release.errors import Problem

_VERSION_LINE = re.compile(rb"^version:[^\n]*$", re.MULTILINE)


@dataclass(frozen=True)
class Revision:
    """One commit of a repository: where a file's history is read back from."""

    repo: GitRepo
    sha: str


def at_head(root: Path | str) -> Revision:
    """HEAD of the repository at `root` (NotARepository, or UnknownRevision before a commit)."""
    repo = open_repo(root)
    return Revision(repo, repo.commit("HEAD").sha)


def commit_of(source: ConfigSource) -> Revision | None:
    """The commit behind a source: its revision, or a working tree's HEAD (None outside git)."""
    if isinstance(source, GitRevision):
        return Revision(source.repo, source.commit.sha)
    if isinstance(source, WorkTree) and source.root is not None:
        try:
            return at_head(source.root)
        except (NotARepository, UnknownRevision):
            return None
    return None


def versions_in_history(commit: Revision, path: str) -> Iterator[str]:
    """The `version` the file at `path` had in the commits behind `commit` that changed it.

    Newest first, one per distinct file content; contents without a string version are skipped.
    """
    yield from folder_versions(commit, path).get(path, ())


def folder_versions(commit: Revision, folder: str) -> dict[str, tuple[str, ...]]:
    """For every file under `folder` (or the file `folder`): its versions, as above.

    `-m` includes what merges resolved; deletions are left out; `--no-renames` keeps a
    renamed file's history under its old path, where its versions were.
    """
    found: dict[str, tuple[str, ...]] = {}
    for path, blobs in commit.repo.file_history(commit.sha, folder).items():
        versions = (version_of(commit.repo.blob(blob)) for blob in blobs)
        found[path] = tuple(v for v in versions if v is not None)
    return found


@functools.lru_cache(maxsize=8192)
def version_of(raw: bytes) -> str | None:
    """The top-level `version:` string of a YAML file, or None.

    The one `version:` line is read on its own (full YAML parsing of every old file costs
    ~5 ms each); anything unusual (no such line, several, flow style) takes a full parse.
    """
    lines = _VERSION_LINE.findall(raw)
    if len(lines) == 1:
        try:
            data = YAML(typ="safe", pure=True).load(lines[0].decode("utf-8"))
        except (YAMLError, UnicodeDecodeError):
            data = None
        if isinstance(data, dict) and set(data) == {"version"}:
            version = data["version"]
            return version if isinstance(version, str) else None
    doc = parse("version", raw)
    if isinstance(doc, Problem) or not isinstance(doc.data, dict):
        return None
    version = doc.data.get("version")
    return version if isinstance(version, str) else None


def repository_url(root: object) -> str:
    """The config repo's `origin` URL with any credentials removed, else its absolute path:
    what a provenance statement names as the source (never a token from the URL)."""
    try:
        url = open_repo(str(root)).remote_url("origin") or ""
    except NotARepository:
        url = ""
    return public_url(url) if url else str(Path(str(root)).absolute())


def public_url(url: str) -> str:
    """`url` without its userinfo (user:token@); scp-like `git@host:path` is kept as it is."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        host = parts.netloc.rpartition("@")[2]
        return urllib.parse.urlunsplit(parts._replace(netloc=host))
    return url
