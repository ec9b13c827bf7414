"""The one way to a validated config, `load_checked`, and `release check`'s report over it.

`load_checked` loads every file of a source and applies every cross-file rule, collecting each
problem with its file and field: pinned versions are checked against the image's git history
behind the source's commit, and image versions against a base revision when one is given.
It never raises for an invalid config; each caller decides what problems mean (a report, a
ConfigError, a StateInvalid). What a key file holds is asked of the `KeyParser` the caller
passes: the edges (CLI, pipeline) pass gpg's, so validation itself runs no tool.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from release.config.history import commit_of, folder_versions
from release.config.loader import IMAGES, ConfigRepo, load
from release.config.rules import KeyParser, check_repo
from release.config.source import ConfigSource, open_source
from release.errors import Problem


@dataclass
class CheckReport:
    revision: str | None
    images: int = 0
    channels: int = 0
    targets: int = 0
    keys: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @classmethod
    def of(cls, config: ConfigRepo) -> CheckReport:
        return cls(
            revision=config.revision,
            images=len(config.images),
            channels=len(config.channels),
            targets=len(config.targets),
            keys=len(config.trust.keys),
            problems=config.problems,
            warnings=config.warnings,
        )

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "revision": self.revision,
            "counts": {
                "images": self.images,
                "channels": self.channels,
                "targets": self.targets,
                "keys": self.keys,
            },
            "problems": [p.to_dict() for p in self.problems],
            "warnings": [p.to_dict() for p in self.warnings],
        }


def load_checked(
    source: ConfigSource, keys: KeyParser, base: ConfigRepo | None = None
) -> ConfigRepo:
    """Every file of `source` loaded and every rule applied; problems and warnings are
    collected in the result's `.problems` and `.warnings`, never raised."""
    config = load(source)
    commit = commit_of(source)

    @functools.cache
    def every_version() -> dict[str, tuple[str, ...]]:
        # One `git log` for the whole images/ folder, and only if a pin needs it.
        return folder_versions(commit, IMAGES) if commit is not None else {}

    def history(image: str) -> tuple[str, ...]:
        return every_version().get(config.images[image].doc.path, ())

    check_repo(config, keys, base, history)
    return config


def check(
    repo: str = ".", rev: str | None = None, base: str | None = None, *, keys: KeyParser
) -> CheckReport:
    """`release check`: the config at `rev` (default: the working tree), its versions
    compared with those at `base` when given."""
    with open_source(repo, rev) as source:
        return CheckReport.of(load_checked(source, keys, _load_base(repo, base) if base else None))


def _load_base(repo: str, base: str) -> ConfigRepo:
    with open_source(repo, base) as source:
        return load(source)
