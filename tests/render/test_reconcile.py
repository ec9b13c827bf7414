"""What `release reconcile` and `release resign` print, from results built by hand."""

from __future__ import annotations

from release.channels.outcome import ChannelOutcome, TargetOutcome
from release.channels.reconcile import ReconcileResult
from release.channels.resign import Resigned, ResignResult
from release.render.reconcile import render_reconcile, render_resign

REV = "c0ffee" + "0" * 34


def test_a_run_that_published() -> None:
    result = ReconcileResult(
        revision=REV,
        channels=[
            ChannelOutcome(
                "el7-stable",
                "centos-7-genericcloud",
                "7.9.2009.2",
                targets=[
                    TargetOutcome("local", "published", serial=3),
                    TargetOutcome("s3", "up-to-date", serial=0),
                    TargetOutcome("aws", "failed", detail="AccessDenied: no s3:PutObject"),
                    TargetOutcome("gce", "published", images={"p": "centos-7-v2"}),
                ],
                built=True,
            ),
            ChannelOutcome("el6-stable", "centos-6-genericcloud", "6.10.2"),
        ],
        warnings=["target s3: slow"],
        retired=["el6-old on local"],
    )
    assert render_reconcile(result).splitlines() == [
        "reconcile c0ffee000000",
        "  el7-stable: centos-7-genericcloud 7.9.2009.2 (built)",
        "    published  local serial 3",
        "    up-to-date s3 serial 0",
        "    failed     aws - AccessDenied: no s3:PutObject",
        "    published  gce",
        "  el6-stable: centos-6-genericcloud 6.10.2",
        "  retired    el6-old on local (its index left the snapshot)",
        "warning: target s3: slow",
    ]


def test_a_run_with_nothing_to_do() -> None:
    result = ReconcileResult(
        revision=REV,
        channels=[
            ChannelOutcome(
                "el7-stable",
                "centos-7-genericcloud",
                "7.9.2009.2",
                targets=[TargetOutcome("local", "up-to-date", serial=7)],
            )
        ],
    )
    assert render_reconcile(result) == (
        "reconcile c0ffee000000\n"
        "  el7-stable: centos-7-genericcloud 7.9.2009.2\n"
        "    up-to-date local serial 7\n"
        "nothing to do: every target already has what git asks for"
    )
    assert render_reconcile(ReconcileResult(revision="abc")) == (
        "reconcile abc\nnothing to do: every target already has what git asks for"
    )


def test_retiring_alone_is_not_nothing() -> None:
    result = ReconcileResult(revision=REV, retired=["el6-old on local"])
    assert render_reconcile(result).splitlines()[-1] == (
        "  retired    el6-old on local (its index left the snapshot)"
    )


def test_a_detail_is_printed_as_it_came() -> None:
    """Text for a terminal: a failure's detail is not escaped or folded."""
    result = ReconcileResult(
        revision=REV,
        channels=[
            ChannelOutcome(
                "c",
                "i",
                "1",
                targets=[TargetOutcome("t", "failed", detail="rsync: error\nline 2 | x")],
            )
        ],
    )
    assert render_reconcile(result).splitlines()[2:] == [
        "    failed     t - rsync: error",
        "line 2 | x",
    ]


def test_resign() -> None:
    result = ResignResult(
        indexes=[
            Resigned("el7-stable", "local", "resigned", serial=5, detail="serial 5, 30 days"),
            Resigned("el7-testing", "local", "fresh", serial=2, detail="expires in 29d"),
            Resigned("el6-stable", "s3", "absent", detail="no index yet"),
            Resigned("el6-testing", "s3", "untrusted", detail="signed by an unknown key"),
        ]
    )
    assert render_resign(result).splitlines() == [
        "resign",
        "  resigned   el7-stable on local: serial 5, 30 days",
        "  fresh      el7-testing on local: expires in 29d",
        "  absent     el6-stable on s3: no index yet",
        "  untrusted  el6-testing on s3: signed by an unknown key",
    ]
    assert render_resign(ResignResult()) == "resign: no published index"
