"""Drive the fixture `rpm` package's stand-in for EL's rpm (/usr/bin/rpm, a busybox sh script
that the build runs in its chroot). It answers `rpm -qa` with $RPM_STANDIN_QA; here that answer
is what the host's rpm read from dnf's database right after dnf ran, as EL's rpm would list
it, optionally without one package (an rpm that skipped a header)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

from release.imaging import installroot

QF = r"%{NAME}\t%{EPOCH}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n"
CALLS = "/var/lib/rpm-standin/calls"


def installed(tree: Path) -> list[str]:
    """`rpm -qa` of dnf's database in `tree`, read by the host's rpm (NAME EPOCH VERSION
    RELEASE ARCH, tab-separated, as EL's rpm prints them)."""
    out = subprocess.run(
        ["rpm", "--root", str(tree), "--dbpath", "/var/lib/rpm", "-qa", "--qf", QF],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return sorted(out.splitlines())


@contextlib.contextmanager
def answering(drop: str | None = None) -> Iterator[list[str]]:
    """While active, every installroot build's stand-in rpm answers with what dnf installed
    (less the package `drop`); yields the answers given."""
    given: list[str] = []
    real = installroot.install_tree
    saved = os.environ.get("RPM_STANDIN_QA")

    def install_then_answer(image: Any, variant: str, root: Path, *args: Any) -> None:
        real(image, variant, root, *args)
        lines = [line for line in installed(root) if line.split("\t")[0] != drop]
        os.environ["RPM_STANDIN_QA"] = "\n".join(lines)
        given.append(os.environ["RPM_STANDIN_QA"])

    try:
        with mock.patch.object(installroot, "install_tree", install_then_answer):
            yield given
    finally:
        if saved is None:
            os.environ.pop("RPM_STANDIN_QA", None)
        else:
            os.environ["RPM_STANDIN_QA"] = saved
