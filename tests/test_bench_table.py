"""The one-table benchmark runner: rows of every module's shape land in the same columns."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.__main__ import child_argv, normalize, run_topic, table


def test_rows_named_either_way_fill_the_same_columns() -> None:
    rows = [
        normalize(
            "digests",
            {
                "what": "a",
                "ours_s": 1.5,
                "reference_s": 3.0,
                "ratio": 2.0,
                "goal": ">= 2",
                "peak_rss_mb": 12.25,
            },
        ),
        normalize(
            "publish",
            {
                "what": "b",
                "ours": 0.25,
                "reference": 0.5,
                "ratio": 2,
                "goal": None,
                "peak_rss_mb": 40,
            },
        ),
    ]
    lines = table(rows).splitlines()
    assert lines[0].split() == ["topic", "what", "ours", "s", "reference", "s", "ratio", "goal",
                                "peak", "MB"]  # fmt: skip
    assert lines[1].split() == ["digests", "a", "1.5", "3", "2", ">=", "2", "12.2"]
    assert lines[2].split() == ["publish", "b", "0.25", "0.5", "2", "-", "40"]


def test_a_broken_benchmark_is_a_row_not_a_failure(tmp_path: Path) -> None:
    rows = run_topic("no_such_topic", quick=True)
    assert rows[0]["topic"] == "no_such_topic" and rows[0]["what"].startswith("FAILED (exit 1)")


def test_each_topic_runs_in_a_fresh_process(tmp_path: Path) -> None:
    argv = child_argv("plan", True, tmp_path / "rows.json")
    assert argv[0] == sys.executable and argv[3:] == ["plan", "quick", str(tmp_path / "rows.json")]
