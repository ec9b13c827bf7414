"""Atomic file writes: a file either appears complete under its final name or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from release import runner


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside `final`; rename it to `final` only if the block succeeds.

    The temporary name starts with '.' and ends with '.part' so nothing mistakes it for a
    finished file; it is removed on any failure (including KeyboardInterrupt).
    """
    final = Path(final)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        fsync(tmp)
        tmp.replace(final)
        fsync_dir(final.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def sparse_copy_argv(src: Path, dst: Path) -> list[str]:
    """A copy that shares blocks where the filesystem can (reflink) and keeps holes."""
    return ["cp", "--sparse=always", "--reflink=auto", str(src), str(dst)]


def sparse_copy(src: Path, dst: Path) -> None:
    """Copy a disk image in time and space that grow with its data, not its size."""
    runner.run(sparse_copy_argv(src, dst))


def write_bytes(final: Path, data: bytes) -> None:
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)


def write_text(final: Path, text: str) -> None:
    write_bytes(final, text.encode("utf-8"))


def fsync(path: Path) -> None:
    if path.is_file():
        with path.open("rb") as f:
            os.fsync(f.fileno())


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
