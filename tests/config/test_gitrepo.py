"""The git adapter against real repositories made in tmp_path: what it reads, writes and
raises, stated from git's own answers (the `git` command), not from gitpython."""

from __future__ import annotations

from pathlib import Path

import pytest

from release.config.gitrepo import (
    Commit,
    Entry,
    GitError,
    NotARepository,
    UnknownRevision,
    clone,
    open_repo,
    parse_raw_log,
)
from release.errors import ExitCode, InvalidInput, ToolError
from tests.conftest import git


def make_repo(root: Path) -> Path:
    repo = root / "repo"
    (repo / "images").mkdir(parents=True)
    (repo / "images/a.yaml").write_text("version: '1'\n")
    (repo / "images/b.yaml").write_text("version: '1'\n")
    (repo / "images/link.yaml").symlink_to("a.yaml")
    git(root, "init", "-q", "-b", "main", str(repo))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    (repo / "images/a.yaml").write_text("version: '2'\n")
    git(repo, "commit", "-q", "-am", "second")
    return repo


def sha(repo: Path, rev: str = "HEAD") -> str:
    return git(repo, "rev-parse", rev).strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path)


def test_commit_names_a_sha_and_the_committer_time(repo: Path) -> None:
    when = int(git(repo, "log", "-1", "--format=%ct").strip())
    assert open_repo(repo).commit() == Commit(sha(repo), when)
    assert open_repo(repo).commit("HEAD~1").sha == sha(repo, "HEAD~1")
    assert open_repo(repo).root == repo


def test_what_is_not_there_raises_our_errors(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(NotARepository, match="is not a git repository") as no_repo:
        open_repo(tmp_path / "nowhere")
    assert no_repo.value.exit_code == ExitCode.INVALID
    with pytest.raises(UnknownRevision, match=r"'nope' is not a revision of .*: name a branch"):
        open_repo(repo).commit("nope")
    empty = tmp_path / "empty"
    git(tmp_path, "init", "-q", str(empty))
    with pytest.raises(UnknownRevision):
        open_repo(empty).commit()
    assert issubclass(UnknownRevision, InvalidInput)


def test_entries_list_files_sorted_and_report_links(repo: Path) -> None:
    local = open_repo(repo)
    assert local.entries("HEAD", "images") == [
        Entry("images/a.yaml", False),
        Entry("images/b.yaml", False),
        Entry("images/link.yaml", True),
    ]
    assert local.entries("HEAD", "channels") == []


def test_read_gives_a_file_at_a_revision_or_none(repo: Path) -> None:
    local = open_repo(repo)
    local.entries("HEAD", "images")  # a listed blob is read from what the listing saw
    assert local.read("HEAD", "images/a.yaml") == b"version: '2'\n"
    assert local.read(sha(repo, "HEAD~1"), "images/a.yaml") == b"version: '1'\n"
    assert local.read("HEAD", "images/missing.yaml") is None
    blob = git(repo, "rev-parse", "HEAD~1:images/a.yaml").strip()
    assert local.blob(blob) == b"version: '1'\n"


def test_file_history_and_the_commits_that_touched_a_file(repo: Path) -> None:
    local = open_repo(repo)
    blobs = [git(repo, "rev-parse", f"{rev}:images/a.yaml").strip() for rev in ("HEAD", "HEAD~1")]
    history = local.file_history("HEAD", "images")
    assert history["images/a.yaml"] == blobs
    assert len(history["images/b.yaml"]) == 1
    assert list(local.commits_touching("HEAD", "images/a.yaml")) == [sha(repo), sha(repo, "HEAD~1")]
    assert list(local.commits_touching("HEAD", "images/b.yaml")) == [sha(repo, "HEAD~1")]


def test_parse_raw_log_keeps_newest_first_without_repeats_or_deletions() -> None:
    a1, a2, b1, zero = "1" * 40, "2" * 40, "3" * 40, "0" * 40
    out = "\n".join(
        [
            f":100644 100644 {a1} {a2} M\timages/a.yaml",
            "",
            f":100644 000000 {b1} {zero} D\timages/b.yaml",
            f":000000 100644 {zero} {a1} A\timages/a.yaml",
            f":100644 100644 {zero} {a2} M\timages/a.yaml",  # a merge's second diff: seen
            "not a raw line",
            f":000000 100644 {zero} {b1} A\timages/b.yaml",
        ]
    )
    assert parse_raw_log(out) == {"images/a.yaml": [a2, a1], "images/b.yaml": [b1]}


def test_last_tag_and_ancestry(repo: Path) -> None:
    local = open_repo(repo)
    assert local.last_tag("release/*") is None
    git(repo, "tag", "-a", "release/1", "-m", "one", "HEAD~1")
    git(repo, "tag", "-a", "other", "-m", "not a release", "HEAD")
    assert local.last_tag("release/*") == "release/1"
    assert local.last_tag("release/*", "HEAD~1") == "release/1"
    assert local.is_ancestor(sha(repo, "HEAD~1"), sha(repo))
    assert not local.is_ancestor(sha(repo), sha(repo, "HEAD~1"))
    assert not local.is_ancestor("0" * 40, sha(repo))


def test_commit_file_makes_a_commit_and_moves_nothing(repo: Path) -> None:
    local = open_repo(repo)
    (repo / "images/b.yaml").chmod(0o700)
    git(repo, "commit", "-q", "-am", "executable")
    head = sha(repo)
    made = local.commit_file(head, "images/b.yaml", b"version: '9'\n", "Pin b\n\nbody\n")
    assert sha(repo) == head  # no branch moved, the working tree untouched
    assert (repo / "images/b.yaml").read_text() == "version: '1'\n"
    assert git(repo, "show", f"{made}:images/b.yaml") == "version: '9'\n"
    assert git(repo, "rev-parse", f"{made}^").strip() == head
    assert git(repo, "log", "-1", "--format=%B", made).strip() == "Pin b\n\nbody"
    assert git(repo, "ls-tree", made, "images/b.yaml").startswith("100755 ")  # mode kept
    assert git(repo, "diff", "--name-only", head, made).split() == ["images/b.yaml"]


def test_branches(repo: Path) -> None:
    local = open_repo(repo)
    assert local.current_branch() == "main"
    assert local.has_branch("main") and not local.has_branch("promote/x")
    assert local.valid_branch_name("promote/x-1.0")
    assert not local.valid_branch_name("bad..name")
    local.create_branch("promote/x", sha(repo, "HEAD~1"))
    assert sha(repo, "promote/x") == sha(repo, "HEAD~1")
    git(repo, "checkout", "-q", "--detach", "HEAD")
    assert local.current_branch() is None


def test_changes_in_the_work_tree_and_the_index(repo: Path) -> None:
    local = open_repo(repo)
    assert not local.changed("images/a.yaml") and not local.staged()
    (repo / "images/a.yaml").write_text("version: '3'\n")
    assert local.changed("images/a.yaml") and not local.changed("images/b.yaml")
    assert not local.staged()
    git(repo, "add", "images/a.yaml")
    assert local.staged()


def test_advance_moves_the_branch_and_stages_the_file(repo: Path) -> None:
    local = open_repo(repo)
    made = local.commit_file(sha(repo), "images/a.yaml", b"version: '3'\n", "three\n")
    (repo / "images/a.yaml").write_text("version: '3'\n")
    local.advance(made, "release: three", "images/a.yaml")
    assert sha(repo, "main") == made
    assert git(repo, "status", "--porcelain") == ""
    assert "release: three" in git(repo, "reflog", "-1", "main")


def test_clone_fetch_checkout_tag_and_push(repo: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(remote))
    mine = clone(str(remote), tmp_path / "mine")
    assert mine.remote_url() == str(remote)
    assert mine.remote_url("upstream") is None
    mine.set_identity("release test", "release-test@localhost")
    (repo / "images/b.yaml").write_text("version: '2'\n")
    git(repo, "commit", "-q", "-am", "b two")
    git(repo, "push", "-q", str(remote), "main")
    mine.fetch()
    new = mine.commit("origin/main").sha
    assert new == sha(repo)
    mine.checkout(new)
    assert (tmp_path / "mine/images/b.yaml").read_text() == "version: '2'\n"
    assert mine.current_branch() is None
    mine.tag("release/2", new, "released\n")
    mine.push("refs/tags/release/2")
    assert git(remote, "rev-parse", "release/2^{commit}").strip() == new
    tagger = git(remote, "for-each-ref", "--format=%(taggername)", "refs/tags/release/2")
    assert tagger.strip() == "release test"


def test_a_failed_git_command_is_a_tool_error(tmp_path: Path) -> None:
    with pytest.raises(GitError) as failed:
        clone(str(tmp_path / "no-such-remote.git"), tmp_path / "clone")
    error = failed.value
    assert isinstance(error, ToolError)
    assert error.exit_code == ExitCode.FAILED
    assert error.argv[:2] == ["git", "clone"]
    assert error.returncode != 0
    assert "does not exist" in error.stderr and not error.stderr.startswith("stderr:")
