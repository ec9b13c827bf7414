"""`release promote` / `release rollback`: a pin moved as a commit, the file otherwise untouched."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from release.channels.plan import plan
from release.channels.promote import NothingToDo, branch_name, promote, rollback
from release.channels.resolve import Release
from release.channels.yamledit import EditError, set_version
from release.cli.channel_cmds import promote_cmd, rollback_cmd
from release.errors import InvalidInput, OperationError
from tests.conftest import git
from tests.gitops import C7, V1, V2, V3, Remote, bump, merge_feature, tag_release

STABLE = "channels/el7-stable.yaml"
C7_NAME = "centos-7-genericcloud"


@pytest.fixture
def remote(config_repo: Path, tmp_path: Path) -> Remote:
    return Remote(config_repo, tmp_path)


@pytest.fixture
def bumped(remote: Remote) -> Path:
    """A clone where a merged PR bumped CentOS 7 to V2 and that was released (testing has V2)."""
    user = remote.clone("maintainer")
    tag_release(user, "release/1")
    merge_feature(user, "bump-c7", [bump(V2)])
    tag_release(user, "release/2")
    return user


def show(repo: Path, rev: str, path: str) -> bytes:
    """The file's bytes at `rev` (no newline translation: CRLF files stay CRLF)."""
    shown = subprocess.run(
        ["git", "show", f"{rev}:{path}"], cwd=repo, check=True, capture_output=True
    )
    return shown.stdout


def changed_lines(before: bytes, after: bytes) -> list[tuple[bytes, bytes]]:
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(old) == len(new)
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


def test_promote_commits_on_a_new_branch_and_leaves_the_work_tree(
    remote: Remote, bumped: Path
) -> None:
    main = git(bumped, "rev-parse", "HEAD").strip()
    result = promote(str(bumped), "el7-testing", "el7-stable")
    assert result.branch == f"promote/el7-stable-{V2}"
    assert git(bumped, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert git(bumped, "status", "--porcelain") == ""
    assert git(bumped, "rev-parse", f"{result.branch}^").strip() == main
    assert git(bumped, "diff", "--name-only", "main", result.branch).split() == [STABLE]
    assert changed_lines(show(bumped, "main", STABLE), show(bumped, result.branch, STABLE)) == [
        (f'version: "{V1}"\n'.encode(), f'version: "{V2}"\n'.encode())
    ]
    subject = git(bumped, "log", "-1", "--format=%B", result.branch)
    assert subject.startswith(
        f"Promote el7-stable to {C7_NAME} {V2}\n\n"
        f"From el7-testing as released at release/2 (was {V1})"
    )
    # The PR is merged: the plan shows a promotion and nothing to build.
    git(bumped, "push", "-q", "origin", result.branch)
    reviewer = remote.clone("reviewer")
    git(reviewer, "merge", "-q", "--no-ff", f"origin/{result.branch}", "-m", "Merge promotion")
    after = plan(str(reviewer))
    assert after.builds == ()
    assert [(p.channel, p.release, p.source) for p in after.promotions] == [
        ("el7-stable", Release(C7_NAME, V2), "el7-testing")
    ]


def test_promote_on_the_current_branch(bumped: Path) -> None:
    before = (bumped / STABLE).read_bytes()
    result = promote(str(bumped), "el7-testing", "el7-stable", current=True)
    assert result.branch == "main"
    assert git(bumped, "rev-parse", "HEAD").strip() == result.commit
    assert git(bumped, "status", "--porcelain") == ""
    assert changed_lines(before, (bumped / STABLE).read_bytes()) == [
        (f'version: "{V1}"\n'.encode(), f'version: "{V2}"\n'.encode())
    ]


def test_promote_keeps_comments_and_odd_layout_and_replaces_follow(bumped: Path) -> None:
    canary = (
        b"# The canary: follows testing until someone pins it.\r\n"
        b"image:   centos-7-genericcloud   # aligned on purpose\r\n"
        b"follow: el7-testing    # moved by promote\r\n"
        b"targets:\r\n"
        b"    - local\r\n"
    )
    (bumped / "channels/el7-canary.yaml").write_bytes(canary)
    git(bumped, "add", "-A")
    git(bumped, "commit", "-q", "-m", "canary")
    result = promote(str(bumped), "el7-stable", "el7-canary", branch="pin-canary")
    assert changed_lines(canary, show(bumped, "pin-canary", "channels/el7-canary.yaml")) == [
        (
            b"follow: el7-testing    # moved by promote\r\n",
            f'version: "{V1}"    # moved by promote\r\n'.encode(),
        )
    ]
    assert result.pin.previous == Release(C7_NAME, V2)


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        ("el7-testng", "el7-stable", "unknown channel 'el7-testng' (did you mean 'el7-testing'?)"),
        ("el6-testing", "el7-stable", "channel 'el7-stable' is for image 'centos-7-genericcloud'"),
        ("el7-stable", "el7-stable", "--from and --to are both"),
    ],
)
def test_promote_refuses_bad_channels(bumped: Path, source: str, target: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        promote(str(bumped), source, target)
    assert git(bumped, "branch", "--list", "promote/*") == ""


def test_promote_takes_what_was_released_not_what_is_merged(bumped: Path) -> None:
    merge_feature(bumped, "bump3", [(C7, f'version: "{V2}"', f'version: "{V3}"')])
    assert promote(str(bumped), "el7-testing", "el7-stable").pin.release.version == V2
    at_head = promote(str(bumped), "el7-testing", "el7-stable", branch="b3", at="HEAD")
    assert at_head.pin.release.version == V3


def test_promote_from_a_channel_never_released_is_refused(remote: Remote, bumped: Path) -> None:
    never = remote.clone("never")
    git(never, "tag", "-d", "release/1", "release/2")
    with pytest.raises(InvalidInput, match="'el7-testing' is empty: nothing was released yet"):
        promote(str(never), "el7-testing", "el7-stable")
    (bumped / "channels/el7-new.yaml").write_text("image: centos-7-genericcloud\nversion: latest\n")
    git(bumped, "add", "-A")
    git(bumped, "commit", "-q", "-m", "new channel, not released yet")
    with pytest.raises(InvalidInput, match="'el7-new' is empty: it had no release at release/2"):
        promote(str(bumped), "el7-new", "el7-stable")
    assert git(bumped, "branch", "--list", "promote/*") == ""


def test_promote_with_nothing_to_do_exits_2(remote: Remote) -> None:
    user = remote.clone()
    out = CliRunner().invoke(
        promote_cmd,
        ["--repo", str(user), "--from", "el7-testing", "--to", "el7-stable", "--at", "HEAD"],
    )
    assert isinstance(out.exception, NothingToDo)
    assert out.exception.exit_code == 2
    assert f"already pinned to {C7_NAME} {V1}" in str(out.exception)


def test_promote_refuses_an_existing_branch_and_a_dirty_file(bumped: Path) -> None:
    git(bumped, "branch", f"promote/el7-stable-{V2}")
    with pytest.raises(InvalidInput, match="already exists"):
        promote(str(bumped), "el7-testing", "el7-stable")
    (bumped / STABLE).write_text((bumped / STABLE).read_text() + "# local edit\n")
    with pytest.raises(OperationError, match="uncommitted changes"):
        promote(str(bumped), "el7-testing", "el7-stable", current=True)
    assert "# local edit" in (bumped / STABLE).read_text()


def test_promote_cli_text_and_json(bumped: Path) -> None:
    out = CliRunner().invoke(
        promote_cmd, ["--repo", str(bumped), "--from", "el7-testing", "--to", "el7-stable"]
    )
    assert out.exit_code == 0, out.output
    assert f"el7-stable: {V1} -> {V2}" in out.output
    assert f"git push origin promote/el7-stable-{V2}" in out.output
    again = CliRunner().invoke(
        promote_cmd,
        [
            "--repo",
            str(bumped),
            "--from",
            "el7-testing",
            "--to",
            "el7-stable",
            "--branch",
            "b2",
            "--json",
        ],
    )
    assert json.loads(again.output)["branch"] == "b2"


def test_rollback_to_an_earlier_version(bumped: Path) -> None:
    c7 = "images/centos-7-genericcloud.yaml"
    merge_feature(
        bumped,
        "bump3",
        [
            (STABLE, f'version: "{V1}"', f'version: "{V2}"'),
            (c7, f'version: "{V2}"', f'version: "{V3}"'),
        ],
    )
    result = rollback(str(bumped), "el7-stable", V1, current=True)
    assert (result.pin.previous.version, result.pin.release.version) == (V2, V1)
    assert f'version: "{V1}"' in (bumped / STABLE).read_text()
    assert (
        git(bumped, "log", "-1", "--format=%s").strip() == f"Roll back el7-stable to {C7_NAME} {V1}"
    )
    rolled = plan(str(bumped), base="HEAD^")
    assert [(r.channel, r.release.version) for r in rolled.rollbacks] == [("el7-stable", V1)]


def test_rollback_refuses_unknown_and_newer_versions(bumped: Path) -> None:
    with pytest.raises(InvalidInput, match=f"never had version '7.9.2009.9'.*it had: {V2}, {V1}"):
        rollback(str(bumped), "el7-stable", "7.9.2009.9")
    with pytest.raises(InvalidInput, match="is not older than el7-stable's"):
        rollback(str(bumped), "el7-stable", V2)
    out = CliRunner().invoke(
        rollback_cmd, ["--repo", str(bumped), "--channel", "el7-stable", "--to", V1]
    )
    assert isinstance(out.exception, NothingToDo)
    assert git(bumped, "branch", "--list", "rollback/*") == ""


def test_set_version_edits_only_the_value() -> None:
    assert (
        set_version("version: '1.0'  # c\nimage: a\n", "1.1") == "version: '1.1'  # c\nimage: a\n"
    )
    assert set_version("image: a\nversion: latest\n", "2") == 'image: a\nversion: "2"\n'
    assert set_version("{image: a, version: latest}\n", "2") == '{image: a, version: "2"}\n'
    with pytest.raises(EditError, match="one-line scalar"):
        set_version("image: a\nversion: >\n  1.0\n", "2")
    with pytest.raises(EditError, match="neither"):
        set_version("image: a\n", "2")


def test_branch_names_are_valid_git_refs() -> None:
    assert branch_name("promote", "el7-stable", "7.9~rc1") == "promote/el7-stable-7.9_rc1"
