"""A plan as text, markdown, JSON and GitHub matrices, from plans built by hand."""

from __future__ import annotations

import json

import pytest

from release.channels.plan import Build, IndexUpdate, Plan, Promotion, Publish, Rollback
from release.channels.resolve import Release
from release.render.plan import render

BASE = "a" * 40
HEAD = "b" * 40
IMG = "centos-7-genericcloud"

PLAN = Plan(
    base=BASE,
    head=HEAD,
    base_ref="v7.9.2009.1",
    head_ref="main",
    builds=(Build(IMG, "7.9.2009.2", "aws"), Build(IMG, "7.9.2009.2", "openstack")),
    publishes=(
        Publish(
            "el7-testing",
            Release(IMG, "7.9.2009.2"),
            Release(IMG, "7.9.2009.1"),
            ("local", "s3"),
            ("release",),
        ),
        Publish("el7-new", Release(IMG, "7.9.2009.2"), None, ("local",), ("new",)),
    ),
    index_updates=(
        IndexUpdate("el7-testing", ("local", "s3"), "publish"),
        IndexUpdate("el7-new", ("local",), "publish"),
        IndexUpdate("el6-gone", ("local",), "retired"),
    ),
    warnings=("image centos-6-genericcloud: the definition changed",),
)

MOVES = Plan(
    base=BASE,
    head=HEAD,
    publishes=(
        Publish("el7-stable", Release(IMG, "7.9.2009.2"), Release(IMG, "7.9.2009.1"), ("local",),
                ("release",)),
        Publish("el6-stable", Release("centos-6", "6.10.1"), Release("centos-6", "6.10.2"),
                ("local",), ("release",)),
        Publish("lts", Release("centos-6", "6.10.2"), Release(IMG, "7.9.2009.1"), ("local",),
                ("release", "targets")),
    ),
    promotions=(
        Promotion("el7-stable", Release(IMG, "7.9.2009.2"), Release(IMG, "7.9.2009.1"),
                  "el7-testing"),
    ),
    rollbacks=(
        Rollback("el6-stable", Release("centos-6", "6.10.1"), Release("centos-6", "6.10.2")),
    ),
)  # fmt: skip


def test_text() -> None:
    assert render(PLAN, "text").splitlines() == [
        "plan: v7.9.2009.1 (aaaaaaaaaaaa) -> main (bbbbbbbbbbbb)",
        "warning: image centos-6-genericcloud: the definition changed",
        "builds (2):",
        "  centos-7-genericcloud  version=7.9.2009.2  variant=aws",
        "  centos-7-genericcloud  version=7.9.2009.2  variant=openstack",
        "channels to publish (2):",
        "  el7-testing  release=centos-7-genericcloud 7.9.2009.2  was=7.9.2009.1"
        "  targets=local, s3  why=release",
        "  el7-new  release=centos-7-genericcloud 7.9.2009.2  was=-  targets=local  why=new",
        "index updates (3):",
        "  el7-testing  targets=local, s3  why=publish",
        "  el7-new  targets=local  why=publish",
        "  el6-gone  targets=local  why=retired",
    ]


def test_text_of_promotions_and_rollbacks() -> None:
    assert render(MOVES, "text").splitlines() == [
        f"plan: {BASE[:12]} -> {HEAD[:12]}",
        "channels to publish (3):",
        "  el7-stable  release=centos-7-genericcloud 7.9.2009.2  was=7.9.2009.1  targets=local"
        "  why=release",
        "  el6-stable  release=centos-6 6.10.1  was=6.10.2  targets=local  why=release",
        # another image: the previous release is named in full
        "  lts  release=centos-6 6.10.2  was=centos-7-genericcloud 7.9.2009.1  targets=local"
        "  why=release, targets",
        "promotions (1):",
        "  el7-stable  release=centos-7-genericcloud 7.9.2009.2  from=el7-testing  was=7.9.2009.1",
        "rollbacks (1):",
        "  el6-stable  release=centos-6 6.10.1  was=6.10.2",
    ]


@pytest.mark.parametrize(
    ("base", "base_ref", "shown"),
    [
        (None, None, "nothing released"),
        (None, "v1", "nothing released"),
        (BASE, None, "aaaaaaaaaaaa"),
        (BASE, BASE, "aaaaaaaaaaaa"),  # a ref that is the commit id is not repeated
        (BASE, "v1", "v1 (aaaaaaaaaaaa)"),
    ],
)
def test_how_the_revisions_are_named(base: str | None, base_ref: str | None, shown: str) -> None:
    empty = Plan(base=base, head=HEAD, base_ref=base_ref, head_ref="HEAD")
    assert render(empty, "text") == (
        f"plan: {shown} -> HEAD (bbbbbbbbbbbb)\nnothing to do: no builds, no channels to publish"
    )


def test_markdown() -> None:
    assert render(PLAN, "markdown") == "\n".join(
        [
            "### Release plan: `v7.9.2009.1 (aaaaaaaaaaaa)` → `main (bbbbbbbbbbbb)`",
            "",
            "> **Warning:** image centos-6-genericcloud: the definition changed",
            "",
            "**Builds** (2)",
            "",
            "| image | version | variant |",
            "| --- | --- | --- |",
            "| centos-7-genericcloud | 7.9.2009.2 | aws |",
            "| centos-7-genericcloud | 7.9.2009.2 | openstack |",
            "",
            "**Channels to publish** (2)",
            "",
            "| channel | release | was | targets | why |",
            "| --- | --- | --- | --- | --- |",
            "| el7-testing | centos-7-genericcloud 7.9.2009.2 | 7.9.2009.1 | local, s3 | release |",
            "| el7-new | centos-7-genericcloud 7.9.2009.2 | - | local | new |",
            "",
            "**Index updates** (3)",
            "",
            "| channel | targets | why |",
            "| --- | --- | --- |",
            "| el7-testing | local, s3 | publish |",
            "| el7-new | local | publish |",
            "| el6-gone | local | retired |",
            "",
        ]
    )


def test_markdown_of_an_empty_plan() -> None:
    empty = Plan(base=None, head=HEAD, head_ref="main")
    assert render(empty, "markdown") == (
        "### Release plan: `nothing released` → `main (bbbbbbbbbbbb)`\n"
        "\n"
        "Nothing to do: no builds, no channels to publish.\n"
    )


def test_markdown_keeps_hostile_text_inside_its_cell_and_line() -> None:
    hostile = Plan(
        base=BASE,
        head=HEAD,
        index_updates=(IndexUpdate("el7", ("local",), "keys | changed\n| x | y |"),),
        warnings=("two\nlines | and a pipe",),
    )
    out = render(hostile, "markdown").splitlines()
    assert "> **Warning:** two lines \\| and a pipe" in out
    assert "| el7 | local | keys \\| changed \\| x \\| y \\| |" in out
    assert (
        "| el7 | local |   |"
        in render(
            Plan(base=BASE, head=HEAD, index_updates=(IndexUpdate("el7", ("local",), ""),)),
            "markdown",
        ).splitlines()
    )  # an empty cell keeps the row's columns


def test_a_ref_with_backticks_stays_one_code_span() -> None:
    """git allows a backtick in a ref name (git check-ref-format); CommonMark ends a code span
    at a run of as many backticks as opened it, so the span opens with a longer run."""
    plan = Plan(base=None, head=HEAD, head_ref="re`lease")
    first = render(plan, "markdown").splitlines()[0]
    assert first == "### Release plan: `nothing released` → `` re`lease (bbbbbbbbbbbb) ``"


def test_text_does_not_escape() -> None:
    """Text is for terminals and logs: what a warning says is printed as it is."""
    plan = Plan(base=BASE, head=HEAD, warnings=("a | b",))
    assert render(plan, "text").splitlines()[1] == "warning: a | b"


def test_json() -> None:
    assert json.loads(render(MOVES, "json")) == {
        "base": BASE,
        "head": HEAD,
        "base_ref": None,
        "head_ref": None,
        "builds": [],
        "publishes": [
            {
                "channel": "el7-stable",
                "release": {"image": IMG, "version": "7.9.2009.2"},
                "previous": {"image": IMG, "version": "7.9.2009.1"},
                "targets": ["local"],
                "reasons": ["release"],
            },
            {
                "channel": "el6-stable",
                "release": {"image": "centos-6", "version": "6.10.1"},
                "previous": {"image": "centos-6", "version": "6.10.2"},
                "targets": ["local"],
                "reasons": ["release"],
            },
            {
                "channel": "lts",
                "release": {"image": "centos-6", "version": "6.10.2"},
                "previous": {"image": IMG, "version": "7.9.2009.1"},
                "targets": ["local"],
                "reasons": ["release", "targets"],
            },
        ],
        "promotions": [
            {
                "channel": "el7-stable",
                "release": {"image": IMG, "version": "7.9.2009.2"},
                "previous": {"image": IMG, "version": "7.9.2009.1"},
                "source": "el7-testing",
            }
        ],
        "rollbacks": [
            {
                "channel": "el6-stable",
                "release": {"image": "centos-6", "version": "6.10.1"},
                "previous": {"image": "centos-6", "version": "6.10.2"},
            }
        ],
        "index_updates": [],
        "warnings": [],
        "empty": False,
        "snapshot_targets": [],
    }


def test_json_is_stable_text() -> None:
    out = render(PLAN, "json")
    assert out.startswith('{\n  "base": "' + BASE + '",\n  "base_ref": "v7.9.2009.1",\n')
    assert json.loads(out)["snapshot_targets"] == ["local", "s3"]


def test_github_matrices_are_one_line() -> None:
    assert render(PLAN, "github-matrix") == (
        '{"include":[{"image":"centos-7-genericcloud","variant":"aws","version":"7.9.2009.2"},'
        '{"image":"centos-7-genericcloud","variant":"openstack","version":"7.9.2009.2"}]}'
    )
    # a retired channel has no job: only its snapshot changes
    assert render(PLAN, "github-matrix", matrix="channels") == (
        '{"include":[{"channel":"el7-new"},{"channel":"el7-testing"}]}'
    )
    assert render(Plan(base=None, head=HEAD), "github-matrix") == '{"include":[]}'


def test_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown format 'yaml'"):
        render(PLAN, "yaml")
