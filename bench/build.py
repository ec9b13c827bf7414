"""Build benchmarks, as ratios (`python -m bench.build [--quick]`).

1. Disk assembly grows with the data, not the virtual size: the same tree on a 20 GiB disk
   takes at most 1.2x as long as on a 2 GiB disk. Reference: the standard tools run by hand
   on the same tree (truncate + sfdisk + mkfs.ext4 -d with its own defaults).
2. A rebuild of an unchanged definition (cache hit) costs under 2% of the first build.
3. Making the rpmdb EL's rpm reads (dnf's sqlite headers into a Berkeley DB `Packages`, the
   image's own `rpm --rebuilddb` in a chroot, every listing compared) adds under 5% to a build
   of the fixture image (which carries the stand-in rpm, so the chroot step runs).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

from release.imaging import disk, rpmdb
from release.imaging.builder import BuildResult, build
from tests.fixtures.rpmrepo import build_repo
from tests.imaging.conftest import BASE_PACKAGES, definition
from tests.imaging.rpmstandin import answering

GIB = 1 << 30
UUID = "0b5c6c8e-1111-4222-8333-444455556666"


def _timed(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def _peak_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def _tree(base: Path, megabytes: int) -> Path:
    tree = base / "tree"
    for i in range(megabytes):
        folder = tree / "usr" / "share" / f"d{i % 20}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i}").write_bytes(os.urandom(1 << 20))
    return tree


def _by_hand(tree: Path, raw: Path, size: int) -> None:
    raw.unlink(missing_ok=True)
    with raw.open("wb") as fh:
        fh.truncate(size)
    script = b"label: dos\nstart=2048, type=83, bootable\n"
    subprocess.run(["sfdisk", "-q", str(raw)], input=script, check=True)
    blocks = str((size - (1 << 20)) // 4096)
    subprocess.run(
        [
            "mkfs.ext4",
            "-q",
            "-F",
            "-b",
            "4096",
            "-E",
            "offset=1048576",
            "-d",
            str(tree),
            str(raw),
            blocks,
        ],
        check=True,
    )


def disk_rows(base: Path, quick: bool) -> list[dict[str, object]]:
    tree = _tree(base, 64 if quick else 256)
    repeat = 2 if quick else 3
    rows: list[dict[str, object]] = []
    ours: dict[int, float] = {}
    for gib in (2, 20):
        raw = base / f"d{gib}.raw"

        def assemble(raw: Path = raw, gib: int = gib) -> None:
            raw.unlink(missing_ok=True)
            disk.assemble(tree, raw, 7, gib * GIB, UUID, 1700000000)

        def by_hand(raw: Path = raw, gib: int = gib) -> None:
            _by_hand(tree, raw, gib * GIB)

        ours[gib] = _timed(assemble, repeat)
        reference = _timed(by_hand, repeat)
        rows.append(
            {
                "what": f"assemble {gib} GiB disk",
                "ours_s": ours[gib],
                "reference_s": reference,
                "ratio": ours[gib] / reference,
                "goal": "-",
                "peak_rss_mb": _peak_mb(),
            }
        )
        raw.unlink()
    rows.append(
        {
            "what": "assembly 20 GiB / 2 GiB",
            "ours_s": ours[20],
            "reference_s": ours[2],
            "ratio": ours[20] / ours[2],
            "goal": "<= 1.2",
            "peak_rss_mb": _peak_mb(),
        }
    )
    return rows


def _timed_build(image: Any, out: Path, cache: Path) -> tuple[BuildResult, float, float]:
    """One build; (result, whole build s, rpmdb step s)."""
    spent: list[float] = []
    real = rpmdb.make_native

    def make_native(*args: Any, **kwargs: Any) -> str:
        started = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - started)

    started = time.perf_counter()
    with mock.patch.object(rpmdb, "make_native", make_native), answering():
        result = build(image, "openstack", out, cache)
    return result, time.perf_counter() - started, sum(spent)


def cache_rows(base: Path, quick: bool) -> list[dict[str, object]]:
    (base / "repo").mkdir()
    repo = build_repo(base / "repo", ".el7")
    packages = [*BASE_PACKAGES, "policycoreutils", "rpm"]
    image = definition(repo, 7, disk={"size": "2GiB"}, packages=packages)
    builds = [_timed_build(image, base / "out", base / "cache")]
    first, first_s, _ = builds[0]
    assert not first.cached
    hit = _timed(lambda: build(image, "openstack", base / "out2", base / "cache"), 5)
    for i in range(0 if quick else 2):
        builds.append(_timed_build(image, base / f"out-{i}", base / f"cache-{i}"))
    total = sum(whole for _, whole, _ in builds)
    step = sum(part for _, _, part in builds)
    return [
        {
            "what": "rebuild unchanged (cache hit) / first build",
            "ours_s": hit,
            "reference_s": first_s,
            "ratio": hit / first_s,
            "goal": "< 0.02",
            "peak_rss_mb": _peak_mb(),
        },
        {
            "what": f"rpmdb step / rest of the build ({len(builds)} builds)",
            "ours_s": step / len(builds),
            "reference_s": (total - step) / len(builds),
            "ratio": step / (total - step),
            "goal": "< 0.05",
            "peak_rss_mb": _peak_mb(),
        },
    ]


def run(quick: bool) -> list[dict[str, object]]:
    base = Path(tempfile.mkdtemp(prefix="bench-build-", dir="/tmp"))
    try:
        return disk_rows(base / "disk", quick) + cache_rows(base, quick)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    rows = run("--quick" in sys.argv)
    print(f"{'what':<44} {'ours s':>8} {'ref s':>8} {'ratio':>7} {'goal':>7} {'peak MB':>8}")
    for r in rows:
        print(
            f"{r['what']!s:<44} {r['ours_s']:>8.3f} {r['reference_s']:>8.3f}"
            f" {r['ratio']:>7.3f} {r['goal']!s:>7} {r['peak_rss_mb']:>8.1f}"
        )


if __name__ == "__main__":
    main()
