from __future__ import annotations

from pathlib import Path

import pytest

from release.errors import InvalidInput
from release.formats.options import (
    GIB,
    MIB,
    ConvertedFile,
    ConvertOptions,
    check_basename,
    output_name,
    parse_formats,
    round_up,
    too_large,
)


def test_parse_formats_canonical_order_and_dedup() -> None:
    assert parse_formats("gce, qcow2,ova,qcow2") == ("qcow2", "ova", "gce")


@pytest.mark.parametrize("text", ["qcow2,vhdx", "", " , ", "QCOW2"])
def test_parse_formats_rejects_unknown(text: str) -> None:
    with pytest.raises(InvalidInput, match="--formats"):
        parse_formats(text)


def test_options_collect_every_problem() -> None:
    with pytest.raises(InvalidInput) as info:
        ConvertOptions(formats=(), cpus=0, memory_mib=1, jobs=0, product="", gzip_level=0)
    message = str(info.value)
    for field in ("formats", "cpus", "memory_mib", "jobs", "product", "gzip_level"):
        assert f"{field}:" in message


def test_options_reject_xz_without_raw_and_bad_compat() -> None:
    with pytest.raises(InvalidInput, match="raw_xz"):
        ConvertOptions(formats=("qcow2",), raw_xz=True)
    with pytest.raises(InvalidInput, match="qcow2_compat"):
        ConvertOptions(qcow2_compat="2")  # type: ignore[arg-type]


def test_workers_default_to_cores() -> None:
    assert ConvertOptions(jobs=3).workers == 3
    assert ConvertOptions().workers >= 1


def test_names() -> None:
    assert output_name("c7", "gce") == "c7.tar.gz"
    assert output_name("c7", "vhd") == "c7.vhd"
    check_basename("centos-7.9")
    with pytest.raises(InvalidInput, match="separator"):
        check_basename("../x")


def test_limits() -> None:
    assert too_large(2040 * GIB, ("vhd", "ova")) == []
    (message,) = too_large(2040 * GIB + MIB, ("vhd", "qcow2"))
    assert message.startswith("vhd:") and "2040 GiB" in message


def test_round_up() -> None:
    assert round_up(MIB + 1, MIB) == 2 * MIB
    assert round_up(GIB, GIB) == GIB


def test_artifact_to_dict() -> None:
    data = ConvertedFile(Path("/o/x.raw.xz"), "raw", 5, "xz").to_dict()
    assert data == {"path": "/o/x.raw.xz", "format": "raw", "size": 5, "compression": "xz"}
