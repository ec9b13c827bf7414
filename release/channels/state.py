"""The desired state at a git revision, validated, and where the last release was made.

The IO edge of planning: reads git (through `release.config`); everything after is pure.
"""

from __future__ import annotations

import functools
from pathlib import Path

import git

from release.config.history import commit_of, folder_versions
from release.config.loader import IMAGES, ConfigRepo, load
from release.config.rules import check_repo
from release.config.source import open_source
from release.errors import ConfigError, InvalidInput, Problem

RELEASE_TAGS = "release/*"  # annotated tags recording each completed release


class StateInvalid(ConfigError):
    """The config repo does not validate at a revision; lists every problem."""

    def __init__(self, problems: list[Problem], revision: str) -> None:
        super().__init__(problems)
        lines = [f"  {p}" for p in problems]
        count = len(problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the config repo at {revision}:"
        self.args = ("\n".join([head, *lines]),)

    def __str__(self) -> str:
        return str(self.args[0])


def load_state(repo: str, rev: str) -> ConfigRepo:
    """The validated config at `rev`; pinned versions are checked against the image's history."""
    with open_source(repo, rev) as source:
        config = load(source)
        commit = commit_of(source)

        @functools.cache
        def every_version() -> dict[str, tuple[str, ...]]:
            # One `git log` for the whole images/ folder, and only if a pin needs it.
            return folder_versions(commit, IMAGES) if commit is not None else {}

        def history(image: str) -> tuple[str, ...]:
            return every_version().get(config.images[image].doc.path, ())

        check_repo(config, None, history)
    if config.problems:
        raise StateInvalid(config.problems, rev)
    return config


def empty_state() -> ConfigRepo:
    """The state before the first release: no images, no channels (everything is new)."""
    return ConfigRepo()


def last_released(repo: str, head: str = "HEAD") -> str | None:
    """The newest annotated `release/*` tag reachable from `head`, or None if there is none."""
    try:
        local = git.Repo(Path(repo))
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise InvalidInput(f"{repo} is not a git repository: give the config repo's path") from exc
    try:
        tag: str = local.git.describe("--abbrev=0", "--match", RELEASE_TAGS, head)
    except git.GitCommandError:
        return None  # no release tag behind head: nothing was released yet
    return tag.strip()
