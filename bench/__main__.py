"""`python -m bench [--quick] [--json] [TOPIC...]`: every benchmark module's rows in one table.

Each module (bench/<topic>.py) exposes `run(quick) -> list[dict]`; rows name what is measured,
our time, the reference tool's time on the same input in the same run, the ratio, the goal and
peak memory. Each module runs in a fresh Python process: several modules read their peak memory from
getrusage, which only grows, so one process would report the earlier modules' peak. A module
that fails is reported as a row and the others still run: benchmarks never fail CI (the exit
status is always 0).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TOPICS = (
    "digests",
    "formats",
    "build",
    "installer",
    "publish",
    "plan",
    "seal",
    "azure",
    "glance",
    "reproducible",
)
COLUMNS = ("topic", "what", "ours s", "reference s", "ratio", "goal", "peak MB")


def normalize(topic: str, row: dict[str, Any]) -> dict[str, Any]:
    """One row in the table's columns (the modules name times `ours_s` or `ours`)."""
    return {
        "topic": topic,
        "what": row.get("what", ""),
        "ours s": row.get("ours_s", row.get("ours")),
        "reference s": row.get("reference_s", row.get("reference")),
        "ratio": row.get("ratio"),
        "goal": row.get("goal"),
        "peak MB": row.get("peak_rss_mb"),
    }


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def table(rows: Sequence[dict[str, Any]]) -> str:
    cells = [[cell(row[c]) for c in COLUMNS] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(COLUMNS)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


CHILD = (
    "import json, sys\n"
    "from importlib import import_module\n"
    "rows = import_module('bench.' + sys.argv[1]).run(sys.argv[2] == 'quick')\n"
    "open(sys.argv[3], 'w').write(json.dumps(rows, default=str))\n"
)


def child_argv(topic: str, quick: bool, out: Path) -> list[str]:
    return [sys.executable, "-c", CHILD, topic, "quick" if quick else "full", str(out)]


def run_topic(topic: str, quick: bool) -> list[dict[str, Any]]:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-rows-") as tmp:
        out = Path(tmp) / "rows.json"
        # The module's own progress goes to stderr so that --json stays parseable.
        done = subprocess.run(child_argv(topic, quick, out), stdout=sys.stderr, check=False)
        if done.returncode != 0 or not out.is_file():  # a broken benchmark must not stop others
            return [normalize(topic, {"what": f"FAILED (exit {done.returncode}), see above"})]
        rows = json.loads(out.read_text())
    took = time.perf_counter() - started
    print(f"bench.{topic}: {len(rows)} rows in {took:.0f} s", file=sys.stderr, flush=True)
    return [normalize(topic, row) for row in rows]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small inputs, for a smoke run")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("topics", nargs="*", metavar="TOPIC", help=f"any of {', '.join(TOPICS)}")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.topics) - set(TOPICS))
    if unknown:
        parser.error(f"unknown topic {', '.join(unknown)} (known: {', '.join(TOPICS)})")
    rows = [row for topic in args.topics or TOPICS for row in run_topic(topic, args.quick)]
    print(json.dumps(rows, indent=2) if args.json else table(rows))


if __name__ == "__main__":
    main()
