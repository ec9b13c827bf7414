"""Read a built raw disk without mounting: the partition table with `sfdisk -J`, the root
filesystem copied out with `debugfs rdump` (which keeps symlinks as symlinks)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path


def partitions(raw: Path) -> list[dict[str, object]]:
    out = subprocess.run(["sfdisk", "-J", str(raw)], check=True, capture_output=True).stdout
    parts: list[dict[str, object]] = json.loads(out)["partitiontable"]["partitions"]
    return parts


def fs_spec(raw: Path) -> str:
    start = partitions(raw)[0]["start"]
    assert isinstance(start, int)
    return f"{raw}?offset={start * 512}"


def dump_root(raw: Path, dest: Path) -> Path:
    """The image's root tree, copied into `dest` (an empty directory)."""
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["debugfs", "-R", f"rdump / {dest}", fs_spec(raw)], check=True, capture_output=True
    )
    return dest


def debugfs(raw: Path, request: str) -> str:
    return subprocess.run(
        ["debugfs", "-R", request, fs_spec(raw)], check=True, capture_output=True, text=True
    ).stdout
