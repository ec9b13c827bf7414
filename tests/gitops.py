"""A config repo as users share it: a bare "remote", clones, feature branches merged into main."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import git

C6 = "images/centos-6-genericcloud.yaml"
C7 = "images/centos-7-genericcloud.yaml"
V1, V2, V3 = "7.9.2009.2", "7.9.2009.3", "7.9.2009.4"


class Remote:
    """A bare repo seeded from a config repo; `clone` gives a user's or a CI job's checkout."""

    def __init__(self, seed: Path, root: Path) -> None:
        self.path = root / "remote.git"
        git(root, "clone", "-q", "--bare", str(seed), str(self.path))
        self._root = root
        self._clones = 0

    def clone(self, name: str | None = None) -> Path:
        self._clones += 1
        where = self._root / (name or f"clone{self._clones}")
        git(self._root, "clone", "-q", str(self.path), str(where))
        return where


def edit(repo: Path, path: str, old: str, new: str) -> None:
    text = (repo / path).read_text()
    assert old in text, f"{old!r} not in {path}"
    (repo / path).write_text(text.replace(old, new, 1))


def merge_feature(repo: Path, branch: str, edits: list[tuple[str, str, str]]) -> str:
    """Edit on a feature branch, merge it into main with a merge commit, push; the new main."""
    git(repo, "checkout", "-q", "-b", branch, "main")
    for path, old, new in edits:
        edit(repo, path, old, new)
    git(repo, "commit", "-q", "-am", f"{branch}: edit")
    git(repo, "checkout", "-q", "main")
    git(repo, "pull", "-q", "--ff-only")
    git(repo, "merge", "-q", "--no-ff", branch, "-m", f"Merge {branch}")
    git(repo, "push", "-q", "origin", "main")
    return git(repo, "rev-parse", "HEAD").strip()


def tag_release(repo: Path, name: str, rev: str = "HEAD") -> None:
    """What a completed release records: an annotated release/* tag pushed to the remote."""
    git(repo, "tag", "-a", name, "-m", f"released {name}", rev)
    git(repo, "push", "-q", "origin", name)


def bump(version: str) -> tuple[str, str, str]:
    return (C7, f'version: "{V1}"', f'version: "{version}"')
