"""Sealing cost of the provenance: what the signed in-toto statement adds to `seal`.

Goal (issue 18): provenance adds under 1% to sealing a release of 12 artifacts. One seal of 12
artifacts (4 variants x qcow2, vhd, gce) is timed whole, and the time spent making and signing
the statement inside it is timed on its own, in the same run; the ratio is the second over the
first. A second row times the same seal against the stock tools doing the digest and signing
work by hand (`md5sum; sha1sum; sha256sum` over the files and one `gpg --detach-sign` each for
the manifest and the three checksum files).

Run: python -m bench.seal [--quick]
"""

from __future__ import annotations

import datetime as dt
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

from release.integrity import releasedir
from release.integrity.releasedir import ReleaseInfo, seal
from release.integrity.signing import SigningConfig, open_signer

VARIANTS = ("openstack", "cloudstack", "aws", "gce")
FORMATS = ("qcow2", "vhd", "tar.gz")


def _gpg(home: Path, *args: str) -> str:
    argv = ["gpg", "--homedir", str(home), "--batch", "--no-tty", "--passphrase", "", *args]
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def _key(home: Path) -> str:
    home.mkdir(mode=0o700)
    _gpg(home, "--quick-gen-key", "bench <bench@example.invalid>", "rsa2048", "sign", "90d")
    listing = _gpg(home, "--with-colons", "--list-secret-keys")
    return next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))


def _inputs(directory: Path, size: int) -> None:
    directory.mkdir(parents=True)
    block = os.urandom(1 << 20)
    for variant in VARIANTS:
        for suffix in FORMATS:
            with (directory / f"img-1.0-{variant}.{suffix}").open("wb") as out:
                for _ in range(size >> 20):
                    out.write(block)
        (directory / f"img-1.0-{variant}.packages").write_text("bash\t0\t4.2.46\t35.el7\tx86_64\n")


def _timed(function: Callable[..., Any], spent: list[float]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - start)

    return wrapper


def _by_hand(directory: Path, home: Path, fingerprint: str) -> float:
    files = sorted(str(p) for p in directory.iterdir() if p.suffix != ".asc")
    start = time.perf_counter()
    for tool in ("md5sum", "sha1sum", "sha256sum"):
        subprocess.run([tool, *files], check=True, capture_output=True)
    for name in ("manifest.json", "md5sum.txt", "sha1sum.txt", "sha256sum.txt"):
        target = directory / name
        subprocess.run(
            ["gpg", "--homedir", str(home), "--batch", "--yes", "--local-user", fingerprint,
             "--armor", "--output", f"{target}.hand.asc", "--detach-sign", str(target)],
            check=True, capture_output=True,
        )  # fmt: skip
    return time.perf_counter() - start


def run(quick: bool = False) -> list[dict[str, Any]]:
    size = (4 if quick else 256) << 20
    with tempfile.TemporaryDirectory(prefix="bench-seal-") as tmp:
        home = Path(tmp) / "gnupg"
        fingerprint = _key(home)
        directory = Path(tmp) / "img" / "1.0"
        _inputs(directory, size)
        info = ReleaseInfo(
            image="img", version="1.0", variants=VARIANTS, commit="0" * 40,
            builder="bench", build_time=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
        )  # fmt: skip
        spent: list[float] = []
        originals = (releasedir._provenance_statement, releasedir._provenance)
        releasedir._provenance_statement = _timed(originals[0], spent)
        releasedir._provenance = _timed(originals[1], spent)
        try:
            with open_signer(SigningConfig(gnupghome=home, fingerprint=fingerprint)) as signer:
                start = time.perf_counter()
                seal(directory, info, signer)
                whole = time.perf_counter() - start
        finally:
            releasedir._provenance_statement, releasedir._provenance = originals
        by_hand = _by_hand(directory, home, fingerprint)
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)
        shutil.rmtree(home, ignore_errors=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    data = f"12 artifacts x {size >> 20} MiB"
    return [
        {
            "what": f"provenance (statement + DSSE signature) / whole seal, {data}",
            "ours_s": round(sum(spent), 3),
            "reference_s": round(whole, 3),
            "ratio": round(sum(spent) / whole, 4),
            "goal": "< 0.01",
            "peak_rss_mb": round(peak),
        },
        {
            "what": f"seal vs `*sum` + 4 x `gpg --detach-sign` by hand, {data}",
            "ours_s": round(whole, 3),
            "reference_s": round(by_hand, 3),
            "ratio": round(whole / by_hand, 3),
            "goal": "-",
            "peak_rss_mb": round(peak),
        },
    ]


def main() -> None:
    for row in run("--quick" in sys.argv):
        print(row)


if __name__ == "__main__":
    main()
