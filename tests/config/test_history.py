"""Versions an image definition had in git history, read from a real repo with merges."""

from __future__ import annotations

from pathlib import Path

import pytest

from release.config.history import at_head, folder_versions, version_of, versions_in_history
from tests.conftest import git as run_git
from tests.gitops import C6, C7, V1, V2, V3, edit


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'name: a\nversion: "7.9"   # pinned\n', "7.9"),
        (b"name: a\nversion: '7.9'\n", "7.9"),
        (b"version: 7.9.1\n", "7.9.1"),
        (b"version: 7.10\n", None),  # a float, not a version: as the model would refuse it
        (b'{name: a, version: "7.9"}\n', "7.9"),  # flow style: the full parse
        (b"name: a\n", None),
        (b"version: [\n", None),
        (b"\xff\xfe", None),
    ],
)
def test_version_of(raw: bytes, expected: str | None) -> None:
    assert version_of(raw) == expected


def test_versions_follow_merges_and_skip_unmerged_branches(config_repo: Path) -> None:
    merge_feature_local(config_repo, "bump2", V2)
    run_git(config_repo, "checkout", "-q", "-b", "abandoned", "main")
    edit(config_repo, C7, f'version: "{V2}"', 'version: "7.9.2009.9"')
    run_git(config_repo, "commit", "-q", "-am", "never merged")
    run_git(config_repo, "checkout", "-q", "main")
    merge_feature_local(config_repo, "bump3", V3, old=V2)
    head = at_head(config_repo)
    assert list(versions_in_history(head, C7)) == [V3, V2, V1]
    every = folder_versions(head, "images")
    assert every[C7] == (V3, V2, V1)
    assert every[C6] == ("6.10.2",)


def test_a_deleted_and_restored_file_keeps_its_versions(config_repo: Path) -> None:
    run_git(config_repo, "rm", "-q", C6)
    run_git(config_repo, "commit", "-q", "-m", "drop el6")
    run_git(config_repo, "checkout", "-q", "HEAD~1", "--", C6)
    edit(config_repo, C6, 'version: "6.10.2"', 'version: "6.10.3"')
    run_git(config_repo, "commit", "-q", "-am", "el6 is back")
    head = at_head(config_repo)
    assert list(versions_in_history(head, C6)) == ["6.10.3", "6.10.2"]


def merge_feature_local(repo: Path, branch: str, version: str, old: str = V1) -> None:
    """A feature branch merged with a merge commit, in a repo without a remote."""
    run_git(repo, "checkout", "-q", "-b", branch, "main")
    edit(repo, C7, f'version: "{old}"', f'version: "{version}"')
    run_git(repo, "commit", "-q", "-am", f"bump to {version}")
    run_git(repo, "checkout", "-q", "main")
    run_git(repo, "merge", "-q", "--no-ff", branch, "-m", f"Merge {branch}")
