"""Seal a release with the real gpg, then verify it: the happy path and stock tools."""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from release.integrity.checksums import ChecksumFileError, parse
from release.integrity.keysource import load_key_source
from release.integrity.manifest import Manifest, ManifestError
from release.integrity.verify import verify_release
from tests.integrity.conftest import IMAGE, VERSION
from tests.integrity.gpgkit import Keys, destroy_home, gpg, new_home


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


def test_stock_gpg_verifies_every_signature(release_dir: Path, keys: Keys) -> None:
    """The README's commands, verbatim: `gpg --verify X.asc X` with only the public key."""
    home = new_home()
    try:
        gpg(home, "--import", input=keys.public["good"])
        for name in ("md5sum.txt", "sha1sum.txt", "sha256sum.txt", "manifest.json"):
            proc = subprocess.run(
                [
                    "gpg",
                    "--homedir",
                    str(home),
                    "--status-fd",
                    "1",
                    "--verify",
                    f"{name}.asc",
                    name,
                ],
                cwd=release_dir,
                capture_output=True,
                text=True,
                check=False,
            )
            assert proc.returncode == 0, proc.stderr
            assert f"VALIDSIG {keys.fpr['good']}" in proc.stdout
    finally:
        destroy_home(home)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_checksum_parser_fails_only_with_its_own_error(data: bytes) -> None:
    with contextlib.suppress(ChecksumFileError):
        parse(data, "sha256", "sha256sum.txt")


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
        ),
        max_leaves=10,
    )
)
def test_manifest_parser_fails_only_with_its_own_error(value: object) -> None:
    with contextlib.suppress(ManifestError):
        Manifest.parse(json.dumps(value).encode())
