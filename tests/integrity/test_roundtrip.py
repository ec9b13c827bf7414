"""Seal a release with the real gpg, then verify it: the happy path and stock tools."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from release.integrity.keyring import load_key_source
from release.integrity.verify import verify_release
from tests.integrity.conftest import IMAGE, VERSION


def test_sealed_release_verifies(release_dir: Path, keys_dir: Path) -> None:
    result = verify_release(str(release_dir), load_key_source(keys_dir), channel="el7-cloud")
    assert result.failures() == []
    assert result.ok
    names = {f.name for f in result.files}
    assert f"{IMAGE}-{VERSION}-openstack.qcow2" in names
    assert "manifest.json.asc" in names
    qcow2 = next(f for f in result.files if f.name.endswith(".qcow2"))
    assert qcow2.passed == ["size 300000", "md5", "sha1", "sha256"]


def test_stock_sha256sum_strict_passes(release_dir: Path) -> None:
    for tool, file in [
        ("md5sum", "md5sum.txt"),
        ("sha1sum", "sha1sum.txt"),
        ("sha256sum", "sha256sum.txt"),
    ]:
        proc = subprocess.run(
            [tool, "-c", "--strict", file],
            cwd=release_dir,
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        listed = {line.split("  ", 1)[1] for line in (release_dir / file).read_text().splitlines()}
        others = {p.name for p in release_dir.iterdir()} - {
            "md5sum.txt",
            "sha1sum.txt",
            "sha256sum.txt",
            "md5sum.txt.asc",
            "sha1sum.txt.asc",
            "sha256sum.txt.asc",
        }
        assert listed == others


def test_manifest_records_everything(release_dir: Path) -> None:
    manifest = json.loads((release_dir / "manifest.json").read_text())
    assert manifest["image"] == IMAGE
    assert [a["format"] for a in manifest["artifacts"]] == ["gce", "qcow2"]
    assert manifest["artifacts"][1]["digests"]["sha256"].startswith("sha256:")
    assert manifest["packages"]["gce"][0] == {
        "name": "bash",
        "epoch": 0,
        "version": "4.2.46",
        "release": "35.el7_9",
        "arch": "x86_64",
    }
