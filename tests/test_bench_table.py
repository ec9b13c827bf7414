"""The one-table benchmark runner: rows of every module's shape land in the same columns."""

from __future__ import annotations

from bench.__main__ import normalize, table


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
