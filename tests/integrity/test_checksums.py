"""Checksum files: what we render is what sha256sum reads; parsing refuses odd input."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from release.integrity.checksums import ChecksumFileError, Entry, parse, render
from release.integrity.digests import ALGORITHMS, digest_bytes, digest_file

NAMES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,40}", fullmatch=True).filter(
    lambda n: ".." not in n
)


@given(st.dictionaries(NAMES, st.binary(max_size=64), min_size=1, max_size=8))
def test_render_parse_round_trip(files: dict[str, bytes]) -> None:
    entries = [Entry(n, hashlib.sha256(d).hexdigest()) for n, d in files.items()]
    assert parse(render(entries), "sha256", "sha256sum.txt") == sorted(
        entries, key=lambda e: e.name
    )


def test_rendered_file_passes_stock_tools(tmp_path: Path) -> None:
    files = {"a.qcow2": b"disk", "b+c_1.0.tar.gz": b"tar", "empty.raw": b""}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    for algo in ALGORITHMS:
        entries = [Entry(n, digest_bytes(d).hexdigests[algo]) for n, d in files.items()]
        (tmp_path / "sums").write_bytes(render(entries))
        proc = subprocess.run(
            [f"{algo}sum", "-c", "--strict", "sums"], cwd=tmp_path, capture_output=True, check=False
        )
        assert proc.returncode == 0, proc.stderr


def test_parse_reads_what_sha256sum_writes(tmp_path: Path) -> None:
    (tmp_path / "x.raw").write_bytes(b"x" * 1000)
    out = subprocess.run(["sha256sum", "x.raw"], cwd=tmp_path, capture_output=True, check=True)
    assert parse(out.stdout, "sha256", "f") == [
        Entry("x.raw", digest_file(tmp_path / "x.raw").hexdigests["sha256"])
    ]


HEX = "a" * 64


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "f: is empty"),
        (f"{HEX}  x".encode(), "f: does not end with a newline (truncated?)"),
        (f"{HEX}  x\r\n".encode(), "f:1: has a carriage return"),
        (f"{HEX} *x\n".encode(), "f:1: is not a '<sha256 hex>  <name>' line"),
        (f"{HEX.upper()}  x\n".encode(), "f:1: is not a '<sha256 hex>  <name>' line"),
        (f"{HEX[:-1]}  x\n".encode(), "f:1: is not a '<sha256 hex>  <name>' line"),
        (f"SHA256 (x) = {HEX}\n".encode(), "f:1: is not a '<sha256 hex>  <name>' line"),
        (f"{HEX}  x\n{HEX}  x\n".encode(), "f:2: lists 'x' twice"),
        (f"{HEX}  x\n\n".encode(), "f:2: is not a '<sha256 hex>  <name>' line"),
        (f"{HEX}  ../x\n".encode(), "f:1: name '../x' climbs out"),
        (f"{HEX}  a/../../x\n".encode(), "f:1: name 'a/../../x' climbs out"),
        (f"{HEX}  /x\n".encode(), "f:1: name '/x' is an absolute path"),
        (f"{HEX}  a\0b\n".encode(), "f:1: name 'a\\x00b' contains a NUL byte"),
        (f"\\{HEX}  a\\nb\n".encode(), "f:1: escaped name (backslash line) is not allowed"),
        (f"{HEX}  .hidden\n".encode(), "f:1: name '.hidden' is not a plain file name"),
        (b"\xff\n", "f: is not UTF-8 text"),
    ],
)
def test_parse_refuses(data: bytes, message: str) -> None:
    with pytest.raises(ChecksumFileError) as caught:
        parse(data, "sha256", "f")
    assert str(caught.value).startswith(message)


def test_render_refuses_unsafe_names() -> None:
    with pytest.raises(ValueError, match="absolute path"):
        render([Entry("/etc/passwd", HEX)])
