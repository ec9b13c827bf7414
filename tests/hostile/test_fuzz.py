"""A bounded atheris run of every fuzz target (RELEASE_FUZZ_SECONDS each, default 3)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.chaos,
    pytest.mark.slow,
]

REPO = Path(__file__).resolve().parents[2]
SECONDS = int(os.environ.get("RELEASE_FUZZ_SECONDS", "2"))
NAMES = [
    "checksums",
    "manifest",
    "index",
    "snapshot",
    "packages",
    "url",
    "ovf",
    "ova-manifest",
    "signature",
]


@pytest.mark.parametrize("name", NAMES)
def test_fuzz_target_finds_no_crash(name: str, tmp_path: Path) -> None:
    argv = [
        sys.executable, "-m", "tests.hostile.fuzz_targets", name,
        f"-max_total_time={SECONDS}", "-rss_limit_mb=1024", "-timeout=10",
        f"-artifact_prefix={tmp_path}/",
    ]  # fmt: skip
    result = subprocess.run(
        argv, cwd=REPO, capture_output=True, text=True, timeout=SECONDS + 60, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done" in result.stderr
    assert list(tmp_path.iterdir()) == []  # no crash input written


def test_the_targets_listed_here_are_all_the_targets() -> None:
    atheris_free = (REPO / "tests/hostile/fuzz_targets.py").read_text()
    for name in NAMES:
        assert f'"{name}": _' in atheris_free
