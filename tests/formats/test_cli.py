from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from release.cli.formats_cmds import COMMANDS, _basename
from release.errors import ExitCode, InvalidInput

GROUP = click.Group(commands={c.name or "": c for c in COMMANDS})


def test_convert_json(small_disk: Path, out_dir: Path) -> None:
    result = CliRunner().invoke(
        GROUP,
        [
            "convert", str(small_disk), "--out", str(out_dir), "--formats", "qcow2,gce",
            "--gzip-level", "9", "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [Path(r["path"]).name for r in rows] == ["disk.qcow2", "disk.tar.gz"]
    assert [r["format"] for r in rows] == ["qcow2", "gce"]
    assert (out_dir / "disk.tar.gz").read_bytes()[8] == 2  # gzip XFL: the best level used


def test_convert_text_and_options(small_disk: Path, out_dir: Path) -> None:
    result = CliRunner().invoke(
        GROUP,
        [
            "convert", str(small_disk), "--out", str(out_dir), "--formats", "ova",
            "--name", "c7", "--product", "CentOS", "--product-version", "7.9",
            "--cpus", "2", "--memory", "512", "--ova-sha1", "--jobs", "1",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "ova" in result.output and str(out_dir / "c7.ova") in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--formats", "qcow2,vhdx"], "unknown format 'vhdx'"),
        (["--formats", "qcow2", "--raw-xz"], "raw_xz"),
    ],
)
def test_bad_flags_are_invalid_input(
    small_disk: Path, out_dir: Path, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(GROUP, ["convert", str(small_disk), "--out", str(out_dir), *args])
    assert isinstance(result.exception, InvalidInput)
    assert result.exception.exit_code == ExitCode.INVALID
    assert message in str(result.exception)
    assert list(out_dir.iterdir()) == []


def test_out_is_required(small_disk: Path) -> None:
    result = CliRunner().invoke(GROUP, ["convert", str(small_disk)])
    assert result.exit_code == 2 and "--out" in result.output


def test_default_basename() -> None:
    assert _basename(Path("/x/centos-7.raw")) == "centos-7"
    assert _basename(Path("/x/centos-7.img")) == "centos-7"
    assert _basename(Path("/x/disk")) == "disk"
