"""`release plan` on a shared config repo: what each kind of merged change releases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from release.channels.plan import Build, plan
from release.channels.resolve import Release
from release.channels.state import StateInvalid, last_released
from release.cli.channel_cmds import plan_cmd
from tests.conftest import git
from tests.gitops import C7, V1, V2, V3, Remote, bump, merge_feature, tag_release

C7_NAME = "centos-7-genericcloud"
VARIANTS = ("aws", "cloudstack", "gce", "openstack")
STABLE = "channels/el7-stable.yaml"


@pytest.fixture
def remote(config_repo: Path, tmp_path: Path) -> Remote:
    return Remote(config_repo, tmp_path)


@pytest.fixture
def released(remote: Remote) -> Path:
    """A maintainer's clone where the shipped config was released as release/1."""
    user = remote.clone("maintainer")
    tag_release(user, "release/1")
    return user


def test_first_release_builds_everything_and_publishes_every_channel(remote: Remote) -> None:
    result = plan(str(remote.clone()))
    assert result.base is None
    assert len(result.builds) == 8
    assert {p.channel for p in result.publishes} == {
        "el6-stable", "el6-testing", "el7-stable", "el7-testing",
    }  # fmt: skip
    assert all(p.reasons == ("new",) for p in result.publishes)
    assert result.snapshot_targets == ("local",)


def test_version_bump_builds_exactly_that_image(remote: Remote, released: Path) -> None:
    merge_feature(released, "bump-c7", [bump(V2)])
    ci = remote.clone("ci")
    result = plan(str(ci))
    assert result.base_ref == "release/1"
    assert result.builds == tuple(Build(C7_NAME, V2, v) for v in VARIANTS)
    assert [(p.channel, p.release, p.previous, p.reasons) for p in result.publishes] == [
        ("el7-testing", Release(C7_NAME, V2), Release(C7_NAME, V1), ("release",))
    ]
    assert not result.promotions and not result.rollbacks
    assert [(u.channel, u.reason) for u in result.index_updates] == [("el7-testing", "publish")]


def test_github_matrix_lists_one_job_per_variant(remote: Remote, released: Path) -> None:
    merge_feature(released, "bump-c7", [bump(V2)])
    out = CliRunner().invoke(plan_cmd, ["--repo", str(remote.clone()), "--format", "github-matrix"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == {
        "include": [{"image": C7_NAME, "version": V2, "variant": v} for v in VARIANTS]
    }
    channels = CliRunner().invoke(
        plan_cmd,
        ["--repo", str(released), "--format", "github-matrix", "--matrix", "channels"],
    )
    assert json.loads(channels.output) == {"include": [{"channel": "el7-testing"}]}


def test_editing_only_a_channel_publishes_without_building(remote: Remote, released: Path) -> None:
    (released / "targets/mirror2.yaml").write_text("type: filesystem\npath: mirror2\n")
    git(released, "add", "targets/mirror2.yaml")
    merge_feature(
        released, "more-targets", [(STABLE, "targets: [local]", "targets: [local, mirror2]")]
    )
    result = plan(str(remote.clone()))
    assert result.builds == ()
    assert [(p.channel, p.reasons, p.targets) for p in result.publishes] == [
        ("el7-stable", ("targets",), ("local", "mirror2"))
    ]


def test_comment_only_change_is_nothing_to_do(remote: Remote, released: Path) -> None:
    merge_feature(
        released, "comment", [(C7, "# CentOS 7 GenericCloud", "# The CentOS 7 GenericCloud")]
    )
    result = plan(str(remote.clone()))
    assert result.empty
    out = CliRunner().invoke(plan_cmd, ["--repo", str(released)])
    assert "nothing to do" in out.output


def test_a_following_channel_is_published_with_the_one_it_follows(
    remote: Remote, released: Path
) -> None:
    (released / "channels/el7-canary.yaml").write_text(
        "image: centos-7-genericcloud\nfollow: el7-testing\ntargets: [local]\n"
    )
    git(released, "add", "-A")
    git(released, "commit", "-q", "-m", "canary follows testing")
    git(released, "push", "-q", "origin", "main")
    tag_release(released, "release/2")
    merge_feature(released, "bump-c7", [bump(V2)])
    result = plan(str(released))
    assert result.base_ref == "release/2"
    assert {p.channel: p.release for p in result.publishes} == {
        "el7-canary": Release(C7_NAME, V2),
        "el7-testing": Release(C7_NAME, V2),
    }


def test_pinning_stable_to_what_testing_had_is_a_promotion(remote: Remote, released: Path) -> None:
    merge_feature(released, "bump-c7", [bump(V2)])
    tag_release(released, "release/2")
    merge_feature(released, "promote", [(STABLE, f'version: "{V1}"', f'version: "{V2}"')])
    result = plan(str(remote.clone()))
    assert result.builds == ()
    assert [(p.channel, p.release, p.source, p.previous) for p in result.promotions] == [
        ("el7-stable", Release(C7_NAME, V2), "el7-testing", Release(C7_NAME, V1))
    ]
    assert [p.channel for p in result.publishes] == ["el7-stable"]
    assert not result.rollbacks


def test_pinning_an_older_version_is_a_rollback_without_builds(
    remote: Remote, released: Path
) -> None:
    merge_feature(released, "bump-c7", [bump(V2), (STABLE, f'version: "{V1}"', f'version: "{V2}"')])
    tag_release(released, "release/2")
    merge_feature(released, "rollback", [(STABLE, f'version: "{V2}"', f'version: "{V1}"')])
    result = plan(str(released))
    assert result.builds == ()
    assert [(r.channel, r.release, r.previous) for r in result.rollbacks] == [
        ("el7-stable", Release(C7_NAME, V1), Release(C7_NAME, V2))
    ]
    assert not result.promotions
    assert [u.channel for u in result.index_updates] == ["el7-stable"]


def test_changed_definition_with_the_same_version_warns_and_builds_nothing(
    remote: Remote, released: Path
) -> None:
    merge_feature(released, "sneaky", [(C7, "  - tar\n", "  - tar\n  - vim-minimal\n")])
    result = plan(str(released))
    assert result.builds == ()
    assert len(result.warnings) == 1
    assert "still 7.9.2009.2" in result.warnings[0]
    assert "still 7.9.2009.2" in CliRunner().invoke(plan_cmd, ["--repo", str(released)]).output


def test_default_base_is_the_newest_release_tag_reachable_from_head(
    remote: Remote, released: Path
) -> None:
    merge_feature(released, "bump2", [bump(V2)])
    tag_release(released, "release/2")
    git(released, "checkout", "-q", "-b", "experiment", "release/1")
    git(released, "commit", "-q", "--allow-empty", "-m", "side")
    tag_release(released, "release/3-side")  # newer, but not behind main
    git(released, "checkout", "-q", "main")
    merge_feature(released, "bump3", [(C7, f'version: "{V2}"', f'version: "{V3}"')])
    ci = remote.clone("ci")
    assert last_released(str(ci)) == "release/2"
    assert {b.version for b in plan(str(ci)).builds} == {V3}
    lightweight = remote.clone("light")
    git(lightweight, "tag", "release/9")  # a lightweight tag is not a release record
    assert last_released(str(lightweight)) == "release/2"


def test_explicit_base_and_retired_channels(released: Path) -> None:
    git(released, "rm", "-q", "channels/el6-testing.yaml")
    git(released, "commit", "-q", "-m", "retire el6-testing")
    result = plan(str(released), base="release/1")
    assert [(u.channel, u.reason) for u in result.index_updates] == [("el6-testing", "retired")]
    assert result.publishes == ()
    assert plan(str(released), empty_base=True).base is None


def test_markdown_for_a_pr_comment(remote: Remote, released: Path) -> None:
    merge_feature(released, "bump-c7", [bump(V2)])
    out = CliRunner().invoke(plan_cmd, ["--repo", str(released), "--format", "markdown"])
    assert out.exit_code == 0, out.output
    assert "### Release plan: `release/1 (" in out.output
    assert f"| {C7_NAME} | {V2} | gce |" in out.output
    assert f"| el7-testing | {C7_NAME} {V2} | {V1} | local | release |" in out.output
    data = json.loads(
        CliRunner().invoke(plan_cmd, ["--repo", str(released), "--format", "json"]).output
    )
    assert data["builds"][0] == {"image": C7_NAME, "version": V2, "variant": "aws"}
    assert data["empty"] is False


def test_invalid_head_is_refused_with_the_revision_and_exit_2(released: Path) -> None:
    merge_feature(released, "broken", [bump("7.9.2009.x y")])
    with pytest.raises(StateInvalid, match=r"at HEAD:\n  images/centos-7-genericcloud.yaml:\d+"):
        plan(str(released))
    assert StateInvalid.exit_code == 2


def test_unknown_base_revision_is_invalid_input(released: Path) -> None:
    out = CliRunner().invoke(plan_cmd, ["--repo", str(released), "--base", "nope"])
    assert out.exit_code != 0
    assert "'nope' is not a revision" in str(out.exception)


def test_ttl_change_reindexes_and_a_dropped_target_retires_the_index(released: Path) -> None:
    (released / "targets/mirror2.yaml").write_text("type: filesystem\npath: mirror2\n")
    git(released, "add", "targets/mirror2.yaml")
    merge_feature(
        released,
        "targets",
        [
            (STABLE, "targets: [local]", "targets: [mirror2]"),
            ("channels/el6-stable.yaml", "targets: [local]", "targets: [local]\nindex_ttl: 7d"),
        ],
    )
    result = plan(str(released))
    assert result.builds == ()
    assert [(u.channel, u.targets, u.reason) for u in result.index_updates] == [
        ("el7-stable", ("mirror2",), "publish"),
        ("el6-stable", ("local",), "ttl"),
        ("el7-stable", ("local",), "retired"),
    ]
    assert result.channel_matrix() == {
        "include": [{"channel": "el6-stable"}, {"channel": "el7-stable"}]
    }


def test_a_revision_compared_with_itself_is_nothing_to_do(released: Path) -> None:
    merge_feature(released, "bump-c7", [bump(V2)])
    assert plan(str(released), base="HEAD").empty
    assert plan(str(released), base="HEAD~1", head="HEAD~1").empty


def test_an_invalid_base_says_how_to_go_on(released: Path) -> None:
    merge_feature(released, "broken", [bump("not a version")])
    merge_feature(released, "fixed", [(C7, 'version: "not a version"', f'version: "{V2}"')])
    with pytest.raises(StateInvalid, match=r"(?s)at HEAD~1:.*give another --base, or --empty-base"):
        plan(str(released), base="HEAD~1")
