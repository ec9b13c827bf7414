"""atheris fuzz targets: `python -m tests.hostile.fuzz_targets NAME [libFuzzer args]`.

A target returns normally on a value or on one of our own errors (ReleaseError, or the
ValueError/ParseError the callers turn into one); anything else escapes and libFuzzer reports
a crash with the input that caused it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable

import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]

with atheris.instrument_imports(include=["release"]):  # our code only: fast to start
    from release.channels.index import check_index, check_snapshot
    from release.errors import ReleaseError
    from release.formats import ova
    from release.integrity import checksums
    from release.integrity.keyring import armor_problem
    from release.integrity.manifest import Manifest, parse_packages
    from release.publish import url

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="surrogateescape")


def _checksums(data: bytes) -> None:
    checksums.parse(data, "sha256", "sha256sum.txt")


def _manifest(data: bytes) -> None:
    Manifest.parse(data)


def _index(data: bytes) -> None:
    assert not check_index(data, NOW, 3, channel="stable").ok or data


def _snapshot(data: bytes) -> None:
    check_snapshot(data, {"stable": data}, now=NOW)


def _packages(data: bytes) -> None:
    parse_packages(_text(data), "p.packages")


def _url(data: bytes) -> None:
    url.parse(_text(data).replace("\0", ""))


def _ovf(data: bytes) -> None:
    with contextlib.suppress(ET.ParseError, ValueError):
        ova._check_descriptor(data, "x.vmdk", 1, 1)


def _ova_manifest(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        ova.parse_manifest(_text(data))


def _signature(data: bytes) -> None:
    armor_problem(data)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "checksums": _checksums,
    "manifest": _manifest,
    "index": _index,
    "snapshot": _snapshot,
    "packages": _packages,
    "url": _url,
    "ovf": _ovf,
    "ova-manifest": _ova_manifest,
    "signature": _signature,
}


def main() -> None:
    target = TARGETS[sys.argv[1]]

    def one(data: bytes) -> None:
        with contextlib.suppress(ReleaseError):
            target(data)

    atheris.Setup([sys.argv[0], *sys.argv[2:]], one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
