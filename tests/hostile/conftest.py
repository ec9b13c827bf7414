"""A canary directory next to the work directory: hostile input must never write into it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integrity.conftest import keys, keys_dir, release_dir  # noqa: F401 - shared fixtures


@dataclass(frozen=True)
class Canary:
    root: Path  # the test's tmp dir: only `work` may change under it
    path: Path
    work: Path


def _snapshot(root: Path, work: Path) -> dict[str, bytes | str]:
    state: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        if path == work or work in path.parents:
            continue
        key = str(path.relative_to(root))
        state[key] = (
            f"-> {path.readlink()}"
            if path.is_symlink()
            else (path.read_bytes() if path.is_file() else "dir")
        )
    return state


@pytest.fixture
def canary(tmp_path: Path) -> Iterator[Canary]:
    """Yields (root, canary dir, work dir); fails the test if anything outside work changed."""
    path = tmp_path / "canary"
    path.mkdir()
    (path / "x").write_bytes(b"canary\n")
    work = tmp_path / "work"
    work.mkdir()
    before = _snapshot(tmp_path, work)
    yield Canary(tmp_path, path, work)
    assert _snapshot(tmp_path, work) == before, "hostile input wrote outside the work dir"
