"""Digest speed: md5 + sha1 + sha256 of one file, ours vs coreutils and vs hashlib alone.

Goals (issue 5): our one-pass digests at least 2x faster than `md5sum; sha1sum; sha256sum`
run one after another, and at least 0.9x of the best a single pass can do here (the sum of
hashlib's single-algorithm times on the same file). The one-thread variant (every hash
updated in turn by one thread) is measured too: it shows what the digest threads buy.

Run: python -m bench.digests [--quick]
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from release.integrity.digests import ALGORITHMS, CHUNK, Digests, digest_file

_CHILD_OURS = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from release.integrity.digests import digest_file\n"
    "algos = sys.argv[2].split(',')\n"
    "start = time.perf_counter()\n"
    "digest_file(Path(sys.argv[1]), algos)\n"
    "print(time.perf_counter() - start)\n"
)
_CHILD_ONE_THREAD = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from bench.digests import one_thread_digests\n"
    "start = time.perf_counter()\n"
    "one_thread_digests(Path(sys.argv[1]))\n"
    "print(time.perf_counter() - start)\n"
)


def one_thread_digests(path: Path) -> Digests:
    """The alternative we measured against: one thread updating every hash in turn."""
    hashers = {algo: hashlib.new(algo) for algo in ALGORITHMS}
    buffer = memoryview(bytearray(CHUNK))
    size = 0
    with path.open("rb", buffering=0) as stream:
        while count := stream.readinto(buffer):
            for hasher in hashers.values():
                hasher.update(buffer[:count])
            size += count
    return Digests(size, {a: h.hexdigest() for a, h in hashers.items()})


def _run_child(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS MB and stdout of one child process (rusage via wait4)."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed with {proc.returncode}")
        out.seek(0)
        return elapsed, usage.ru_maxrss / 1024, out.read().decode()


def _python(code: str, *args: str) -> tuple[float, float]:
    """Time measured inside the child, so interpreter start-up does not count."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    _, rss, out = _run_child([sys.executable, "-c", code, *args], env)
    return float(out.strip()), rss


def _make_input(directory: Path, size: int) -> Path:
    path = directory / "input.bin"
    block = os.urandom(CHUNK)
    with path.open("wb") as out:
        for _ in range(size // CHUNK):
            out.write(block)
    digest_file(path, ("md5",))  # warm the page cache: every contender reads from memory
    return path


def _best(samples: list[tuple[float, float]]) -> tuple[float, float]:
    return min(s[0] for s in samples), max(s[1] for s in samples)


def run(quick: bool) -> list[dict[str, Any]]:
    size = (128 if quick else 1024) << 20
    repeats = 1 if quick else 3
    directory = Path(tempfile.mkdtemp(prefix="bench-digests-", dir="/tmp"))
    try:
        path = _make_input(directory, size)
        ours = _best(
            [_python(_CHILD_OURS, str(path), ",".join(ALGORITHMS)) for _ in range(repeats)]
        )
        one_thread = _best([_python(_CHILD_ONE_THREAD, str(path)) for _ in range(repeats)])
        coreutils: list[tuple[float, float]] = []
        for _ in range(repeats):
            runs = [_run_child([f"{algo}sum", str(path)]) for algo in ALGORITHMS]
            coreutils.append((sum(r[0] for r in runs), max(r[1] for r in runs)))
        single = {
            algo: _best([_python(_CHILD_OURS, str(path), algo) for _ in range(repeats)])
            for algo in ALGORITHMS
        }
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    single_sum = sum(t for t, _ in single.values())
    what = f"md5+sha1+sha256 of {size >> 20} MiB"
    return [
        _row(
            f"{what} vs md5sum;sha1sum;sha256sum",
            ours,
            coreutils[0] if quick else _best(coreutils),
            2.0,
        ),
        _row(f"{what} vs sum of hashlib single passes", ours, (single_sum, 0.0), 0.9),
        _row(f"{what} vs the same in one thread (info)", ours, one_thread, None),
        *[_row(f"{algo} alone (info)", single[algo], single[algo], None) for algo in ALGORITHMS],
    ]


def _row(
    what: str, ours: tuple[float, float], reference: tuple[float, float], goal: float | None
) -> dict[str, Any]:
    ratio = reference[0] / ours[0] if ours[0] else float("inf")
    return {
        "what": what,
        "ours_s": round(ours[0], 3),
        "reference_s": round(reference[0], 3),
        "ratio": round(ratio, 2),
        "goal": f">= {goal}x" if goal else "-",
        "met": None if goal is None else ratio >= goal,
        "peak_rss_mb": round(ours[1], 1),
    }


def main() -> None:
    rows = run(quick="--quick" in sys.argv[1:])
    header = f"{'what':<62} {'ours s':>8} {'ref s':>8} {'ratio':>6} {'goal':>7} {'RSS MB':>7}"
    print(header)
    for r in rows:
        print(
            f"{r['what']:<62} {r['ours_s']:>8} {r['reference_s']:>8} {r['ratio']:>6}"
            f" {r['goal']:>7} {r['peak_rss_mb']:>7}"
        )


if __name__ == "__main__":
    main()
