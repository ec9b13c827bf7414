"""The byte ranges `release rebuild` reports for a differing file, and its refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from release.errors import InvalidInput
from release.rebuild import _parameters, differing_ranges, diffoscope_argv


def write(path: Path, data: bytes | bytearray) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("chunk", [1, 3, 4096])
def test_ranges_are_exact_and_coalesced_across_chunks(tmp_path: Path, chunk: int) -> None:
    a = bytearray(b"0123456789" * 3)
    b = bytearray(a)
    b[2:5] = b"xyz"  # one range, crossing chunk borders when chunk is small
    b[9] = ord("!")
    b[10] = ord("!")  # adjacent: one range 9-11
    b[29] = ord("?")  # the last byte
    got = list(differing_ranges(write(tmp_path / "a", a), write(tmp_path / "b", b), chunk))
    assert got == [(2, 5), (9, 11), (29, 30)]


def test_identical_files_have_no_range_and_a_longer_file_its_tail(tmp_path: Path) -> None:
    a = write(tmp_path / "a", b"same bytes")
    assert list(differing_ranges(a, write(tmp_path / "b", b"same bytes"))) == []
    assert list(differing_ranges(a, write(tmp_path / "c", b"same bytes+tail"))) == [(10, 15)]
    assert list(differing_ranges(write(tmp_path / "d", b""), a)) == [(0, 10)]


def test_a_provenance_without_sde_cannot_be_rebuilt() -> None:
    statement = {
        "subject": [],
        "predicate": {
            "buildDefinition": {
                "externalParameters": {"image": "x", "version": "1", "variants": [], "commit": "c"},
                "internalParameters": {},
            }
        },
    }
    with pytest.raises(InvalidInput, match="no SOURCE_DATE_EPOCH"):
        _parameters(statement)


def test_a_statement_without_the_build_parameters_is_named() -> None:
    statement = {
        "subject": [],
        "predicate": {"buildDefinition": {"externalParameters": {"image": "x"}}},
    }
    with pytest.raises(InvalidInput, match="lacks version, variants, commit"):
        _parameters(statement)


def test_the_diffoscope_command() -> None:
    assert diffoscope_argv(Path("/a"), Path("/b")) == ["diffoscope", "--text", "-", "/a", "/b"]
