"""Bench: `release convert` to all five formats against the bare commands, same input, same run.

    python -m bench.formats [--quick]

The input is a sparse raw disk holding real OS files (from /usr/lib) spread over its
virtual size. Ours runs with its defaults (pigz -1 for the GCE archive) and once with
--gzip-level 6, the level of a bare `pigz`. The reference is what a skilled engineer
would type: `qemu-img convert` for qcow2, VHD and VMDK, `tar | pigz` for GCE, tar for the
OVA, `cp --sparse` for the raw copy; once all started together (as `cmd & ... wait`) and once
one after another.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from release.formats import ConvertOptions, convert

GIB = 1 << 30
MIB = 1 << 20
_CHUNK = 64 * MIB


def _source_files() -> Iterator[Path]:
    for root, dirs, files in os.walk("/usr/lib"):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if path.is_file() and not path.is_symlink():
                yield path


def make_disk(path: Path, virtual: int, data: int) -> None:
    """`data` bytes of /usr/lib files in 64 MiB runs spread evenly over `virtual` bytes."""
    runs = max(1, data // _CHUNK)
    stride = (virtual // runs) // MIB * MIB
    files = _source_files()
    with path.open("wb") as out:
        out.truncate(virtual)
        for run in range(runs):
            out.seek(MIB + run * stride)
            left = min(_CHUNK, virtual - MIB - run * stride)
            while left > 0:
                try:
                    chunk = next(files).read_bytes()[:left]
                except StopIteration:
                    files = _source_files()
                    continue
                except OSError:
                    continue
                out.write(chunk)
                left -= len(chunk)


def _reference_scripts(raw: Path, out: Path) -> dict[str, str]:
    """The bare commands, one shell line per format (the same settings as ours)."""
    r, o = str(raw), str(out)
    return {
        "qcow2": f"qemu-img convert -f raw -O qcow2 -o compat=1.1 {r} {o}/ref.qcow2",
        "vhd": f"qemu-img convert -f raw -O vpc -o subformat=fixed,force_size=on {r} {o}/ref.vhd",
        "ova": (
            f"qemu-img convert -f raw -O vmdk -o subformat=streamOptimized {r} {o}/ref.vmdk"
            f" && echo '<Envelope/>' > {o}/ref.ovf && touch {o}/ref.mf"
            f" && tar -cf {o}/ref.ova -C {o} ref.ovf ref.mf ref.vmdk"
        ),
        "gce": (
            f"mkdir -p {o}/gce && ln -sf {r} {o}/gce/disk.raw"
            f" && tar --format=oldgnu -S -h -cf - -C {o}/gce disk.raw | pigz > {o}/ref.tar.gz"
        ),
        "raw": f"cp --sparse=always --reflink=auto {r} {o}/ref.raw",
    }


def _clean(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir()


def _timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def reference_parallel(raw: Path, out: Path) -> float:
    _clean(out)
    scripts = list(_reference_scripts(raw, out).values())

    def run() -> None:
        procs = [subprocess.Popen(["bash", "-c", script]) for script in scripts]
        assert all(proc.wait() == 0 for proc in procs)

    return _timed(run)


def reference_serial(raw: Path, out: Path) -> float:
    _clean(out)
    scripts = list(_reference_scripts(raw, out).values())
    return _timed(lambda: [subprocess.run(["bash", "-c", s], check=True) for s in scripts])


class _PeakRss:
    """Sums the RSS of this process and all its descendants every 50 ms; keeps the peak."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        me = os.getpid()
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.wait(0.05):
            parents: dict[int, int] = {}
            rss: dict[int, int] = {}
            for proc_dir in Path("/proc").iterdir():
                entry = proc_dir.name
                if not entry.isdigit():
                    continue
                try:
                    stat = (proc_dir / "stat").read_text()
                except OSError:
                    continue
                fields = stat[stat.rindex(")") + 2 :].split()
                parents[int(entry)] = int(fields[1])
                rss[int(entry)] = int(fields[21]) * page
            total = 0
            for pid in rss:
                node = pid
                while node not in (0, 1, me) and node in parents:
                    node = parents[node]
                if node == me:
                    total += rss[pid]
            self.peak = max(self.peak, total)


def ours(raw: Path, out: Path, gzip_level: int = 1) -> tuple[float, int]:
    _clean(out)
    options = ConvertOptions(formats=("qcow2", "raw", "vhd", "ova", "gce"), gzip_level=gzip_level)
    with _PeakRss() as rss:
        seconds = _timed(lambda: convert(raw, out, "img", options))
    return seconds, rss.peak


def run(quick: bool) -> list[dict[str, object]]:
    """Each measurement twice, interleaved, best kept: the machine is shared and noisy."""
    data = 128 * MIB if quick else GIB
    small, large = (2 * GIB, 4 * GIB) if quick else (10 * GIB, 20 * GIB)
    work = Path(tempfile.mkdtemp(prefix="bench-formats-", dir="/var/tmp"))
    try:
        raw_small, raw_large, out = work / "small.raw", work / "large.raw", work / "out"
        make_disk(raw_small, small, data)
        make_disk(raw_large, large, data)
        times: dict[str, list[float]] = {}
        peaks: list[int] = []

        def measure(name: str, action: Callable[[], float | tuple[float, int]]) -> None:
            result = action()
            seconds, peak = result if isinstance(result, tuple) else (result, 0)
            times.setdefault(name, []).append(seconds)
            peaks.append(peak)

        for _ in range(2):
            measure("ref_par", lambda: reference_parallel(raw_small, out))
            measure("ours", lambda: ours(raw_small, out))
            measure("ref_ser", lambda: reference_serial(raw_small, out))
            measure("ours_large", lambda: ours(raw_large, out))
            measure("ours_level6", lambda: ours(raw_small, out, gzip_level=6))
        best = {name: min(values) for name, values in times.items()}
        peak = max(peaks) / MIB
        label = f"{small // GIB} GiB virtual / {data // MIB} MiB data"
        return [
            _row(f"5 formats, {label}, vs bare commands in turn", best["ours"], best["ref_ser"],
                 1.0, peak),
            _row(f"5 formats, {label}, vs bare commands together", best["ours"], best["ref_par"],
                 1.15, peak),
            _row("same, --gzip-level 6 (like the bare pigz), vs together", best["ours_level6"],
                 best["ref_par"], 1.15, peak),
            _row(f"{large // GIB} GiB vs {small // GIB} GiB virtual, same data",
                 best["ours_large"], best["ours"], 1.2, peak),
        ]  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _row(what: str, ours_s: float, ref_s: float, goal: float, peak_mb: float) -> dict[str, object]:
    ratio = ours_s / ref_s
    return {
        "what": what,
        "ours_s": round(ours_s, 2),
        "reference_s": round(ref_s, 2),
        "ratio": round(ratio, 3),
        "goal": f"<= {goal}" if goal != 1.0 else "< 1.0",
        "ok": ratio <= goal if goal != 1.0 else ratio < 1.0,
        "peak_rss_mb": round(peak_mb, 1),
    }


def main() -> None:
    rows = run(quick="--quick" in sys.argv[1:])
    header = (
        f"{'what':62} {'ours s':>8} {'ref s':>8} {'ratio':>6} {'goal':>7} {'ok':>3} {'RSS MB':>7}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['what']!s:62} {r['ours_s']!s:>8} {r['reference_s']!s:>8} {r['ratio']!s:>6}"
            f" {r['goal']!s:>7} {'yes' if r['ok'] else 'NO':>3} {r['peak_rss_mb']!s:>7}"
        )
    print("peak memory goal: < 200 MB (sum over our process and its tools)")


if __name__ == "__main__":
    main()
