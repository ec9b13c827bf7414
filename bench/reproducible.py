"""A rebuild's time against the original build's (`release rebuild`'s build, convert and
compare, on the fixture EL7 image with every format), and that it gave the same bytes.

Original: build (fresh cache) + convert + one sha256 pass (what sealing digests).
Rebuild: the same in a fresh cache and directory, with the same SOURCE_DATE_EPOCH, + the
sha256 comparison `release rebuild` makes. Verifying the published release first is not
included (`bench digests` and `bench seal` measure that). `python -m bench reproducible`.
"""

from __future__ import annotations

import hashlib
import resource
import shutil
import tempfile
import time
from pathlib import Path

from release.formats import convert
from release.imaging.builder import build
from release.model.image import ImageDefinition
from release.pipeline import convert_options
from tests.fixtures.rpmrepo import build_repo
from tests.imaging.conftest import BASE_PACKAGES, definition
from tests.imaging.rpmstandin import answering

SDE = 1700000000


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _digests(directory: Path) -> dict[str, str]:
    found = {}
    for path in directory.iterdir():
        with path.open("rb") as fh:
            found[path.name] = hashlib.file_digest(fh, "sha256").hexdigest()
    return found


def _build_and_convert(image: ImageDefinition, base: Path) -> float:
    started = time.perf_counter()
    with answering():
        result = build(image, "openstack", base / "out", base / "cache", sde=SDE)
    (base / "rel").mkdir()
    convert(result.raw_path, base / "rel", "img", convert_options(image, "openstack"))
    shutil.copyfile(result.manifest_path, base / "rel" / "packages.txt")
    return time.perf_counter() - started


def run(quick: bool) -> list[dict[str, object]]:
    base = Path(tempfile.mkdtemp(prefix="bench-repro-", dir="/tmp"))
    try:
        (base / "repo").mkdir()
        repo = build_repo(base / "repo", ".el7")
        image = definition(
            repo, 7, disk={"size": "2GiB"}, packages=[*BASE_PACKAGES, "policycoreutils", "rpm"]
        )
        started = time.perf_counter()
        _build_and_convert(image, base / "a")
        expected = _digests(base / "a" / "rel")  # sealing digests every file once too
        original = time.perf_counter() - started
        started = time.perf_counter()
        _build_and_convert(image, base / "b")
        found = _digests(base / "b" / "rel")
        rebuild = time.perf_counter() - started
        identical = found == expected
        return [
            {
                "what": f"rebuild / original build ({len(expected)} files,"
                f" {'identical' if identical else 'DIFFERENT'})",
                "ours_s": rebuild,
                "reference_s": original,
                "ratio": rebuild / original,
                "goal": "<= 1.1",
                "peak_rss_mb": _peak_mb(),
            }
        ]
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    for row in run(quick=True):
        print(row)
