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
from pathlib import Path

import git
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from release.config.source import ConfigSource, GitRevision, WorkTree
from release.config.yamldoc import parse
from release.errors import Problem

_NO_BLOB = "0" * 40
_VERSION_LINE = re.compile(rb"^version:[^\n]*$", re.MULTILINE)


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
    """The `version` the file at `path` had in the commits behind `commit` that changed it.

    Newest first, one per distinct file content; contents without a string version are skipped.
    """
    yield from folder_versions(commit, path).get(path, ())


def folder_versions(commit: git.Commit, folder: str) -> dict[str, tuple[str, ...]]:
    """For every file under `folder` (or the file `folder`): its versions, as above."""
    found: dict[str, tuple[str, ...]] = {}
    for path, blobs in blob_history(commit, folder).items():
        versions = (_version(commit.repo, blob) for blob in blobs)
        found[path] = tuple(v for v in versions if v is not None)
    return found


def blob_history(commit: git.Commit, pathspec: str) -> dict[str, list[str]]:
    """path -> the blob ids it had in the commits behind `commit`, newest first, no repeats.

    `-m` includes what merges resolved; deletions are left out; `--no-renames` keeps a
    renamed file's history under its old path, where its versions were.
    """
    out = commit.repo.git.log(
        "-m", "--raw", "--no-abbrev", "--no-renames", "--format=", commit.hexsha, "--", pathspec
    )
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


def _version(repo: git.Repo, blob: str) -> str | None:
    data: bytes = repo.odb.stream(bytes.fromhex(blob)).read()
    return version_of(data)


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
        repo = git.Repo(str(root))
        url = str(repo.remotes.origin.url) if "origin" in repo.remotes else ""
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
        url = ""
    return public_url(url) if url else str(Path(str(root)).absolute())


def public_url(url: str) -> str:
    """`url` without its userinfo (user:token@); scp-like `git@host:path` is kept as it is."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        host = parts.netloc.rpartition("@")[2]
        return urllib.parse.urlunsplit(parts._replace(netloc=host))
    return url
