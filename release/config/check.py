"""`release check`: validate a config repo at a revision, optionally against a base revision;
`load_valid`: a loaded repo that passed every check, or ConfigError."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from release.config.history import source_versions
from release.config.loader import ConfigRepo, load
from release.config.rules import check_repo
from release.config.source import ConfigSource, open_source
from release.errors import ConfigError, Problem


@dataclass
class CheckReport:
    revision: str | None
    images: int = 0
    channels: int = 0
    targets: int = 0
    keys: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

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


def check(repo: str = ".", rev: str | None = None, base: str | None = None) -> CheckReport:
    with open_source(repo, rev) as source:
        head = load(source)
        base_repo = _load_base(repo, base) if base else None
        check_repo(head, base_repo, lambda image: _history(source, head, image))
    return CheckReport(
        revision=head.revision,
        images=len(head.images),
        channels=len(head.channels),
        targets=len(head.targets),
        keys=len(head.trust.keys),
        problems=head.problems,
        warnings=head.warnings,
    )


def load_valid(source: ConfigSource) -> ConfigRepo:
    """Like `load` plus the cross-file checks; raises ConfigError listing every problem."""
    repo = load(source)
    check_repo(repo)
    if repo.problems:
        raise ConfigError(repo.problems)
    return repo


def _load_base(repo: str, base: str) -> ConfigRepo:
    with open_source(repo, base) as source:
        return load(source)


def _history(source: ConfigSource, repo: ConfigRepo, image: str) -> Iterator[str]:
    """Every version the image's definition file had in the history behind this revision."""
    return source_versions(source, repo.images[image].doc.path)
