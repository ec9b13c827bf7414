"""The desired state at a git revision, validated, and where the last release was made.

The IO edge of planning: reads git (through `release.config`) and passes validation gpg's
key parser; everything after is pure.
"""

from __future__ import annotations

from release.config.check import load_checked
from release.config.gitrepo import NotARepository, open_repo
from release.config.loader import ConfigRepo
from release.config.source import open_source
from release.errors import ConfigError, InvalidInput, Problem
from release.integrity.keyinfo import read_key_bytes

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
        config = load_checked(source, read_key_bytes)
    if config.problems:
        raise StateInvalid(config.problems, rev)
    return config


def empty_state() -> ConfigRepo:
    """The state before the first release: no images, no channels (everything is new)."""
    return ConfigRepo()


def last_released(repo: str, head: str = "HEAD") -> str | None:
    """The newest annotated `release/*` tag reachable from `head`, or None if there is none."""
    try:
        local = open_repo(repo)
    except NotARepository as exc:
        raise InvalidInput(f"{repo} is not a git repository: give the config repo's path") from exc
    return local.last_tag(RELEASE_TAGS, head)  # None: nothing was released yet
