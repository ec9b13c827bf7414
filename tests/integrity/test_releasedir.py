"""Sealing a release directory: contents, idempotence, refusals, SBOMs, old clients."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from release.errors import InvalidInput
from release.integrity.manifest import parse_packages
from release.integrity.releasedir import seal
from release.integrity.signing import SigningConfig, open_signer
from tests.integrity.conftest import IMAGE, VERSION, release_info, write_inputs
from tests.integrity.gpgkit import Keys, destroy_home, new_home

SIGNED = ("md5sum.txt", "sha1sum.txt", "sha256sum.txt", "manifest.json")


def good_signer(keys: Keys) -> SigningConfig:
    return SigningConfig(gnupghome=keys.home, fingerprint=keys.fpr["good"])


def test_release_dir_contents(release_dir: Path) -> None:
    names = sorted(p.name for p in release_dir.iterdir())
    assert names == sorted(
        [
            f"{IMAGE}-{VERSION}-gce.tar.gz",
            f"{IMAGE}-{VERSION}-gce.packages",
            f"{IMAGE}-{VERSION}-gce.spdx.json",
            f"{IMAGE}-{VERSION}-openstack.qcow2",
            f"{IMAGE}-{VERSION}-openstack.packages",
            f"{IMAGE}-{VERSION}-openstack.spdx.json",
            *SIGNED,
            *(f"{n}.asc" for n in SIGNED),
            "provenance.intoto.jsonl",
        ]
    )


def test_reseal_of_unchanged_release_changes_nothing(release_dir: Path, keys: Keys) -> None:
    before = {p.name: p.read_bytes() for p in release_dir.iterdir()}
    with open_signer(good_signer(keys)) as signer:
        result = seal(release_dir, release_info(), signer)
    assert result.written == ()
    assert {p.name: p.read_bytes() for p in release_dir.iterdir()} == before


def test_reseal_after_interruption_completes(release_dir: Path, keys: Keys) -> None:
    (release_dir / "sha1sum.txt.asc").unlink()
    (release_dir / ".sha256sum.txt.abc.part").write_text("half")
    with open_signer(good_signer(keys)) as signer:
        result = seal(release_dir, release_info(), signer)
    assert result.written == ("sha1sum.txt.asc",)
    assert not list(release_dir.glob(".*.part"))


def test_unexpected_file_is_refused(tmp_path: Path, keys: Keys) -> None:
    write_inputs(tmp_path)
    (tmp_path / "notes.txt").write_text("hi")
    with open_signer(good_signer(keys)) as signer, pytest.raises(InvalidInput) as caught:
        seal(tmp_path, release_info(), signer)
    assert "notes.txt: unexpected file in the release directory" in str(caught.value)
    assert not (tmp_path / "manifest.json").exists()


def test_symlinked_artifact_is_refused(tmp_path: Path, keys: Keys) -> None:
    write_inputs(tmp_path / "r")
    artifact = tmp_path / "r" / f"{IMAGE}-{VERSION}-gce.tar.gz"
    artifact.rename(tmp_path / "real.tar.gz")
    artifact.symlink_to(tmp_path / "real.tar.gz")
    with open_signer(good_signer(keys)) as signer, pytest.raises(InvalidInput, match="symlinks"):
        seal(tmp_path / "r", release_info(), signer)


def test_missing_package_list_is_refused(tmp_path: Path, keys: Keys) -> None:
    write_inputs(tmp_path)
    (tmp_path / f"{IMAGE}-{VERSION}-gce.packages").unlink()
    with open_signer(good_signer(keys)) as signer, pytest.raises(InvalidInput) as caught:
        seal(tmp_path, release_info(), signer)
    assert f"{IMAGE}-{VERSION}-gce.packages is missing" in str(caught.value)


def test_bad_package_list_names_the_line(tmp_path: Path, keys: Keys) -> None:
    write_inputs(tmp_path)
    (tmp_path / f"{IMAGE}-{VERSION}-gce.packages").write_text("bash 0 4.2\n")
    with open_signer(good_signer(keys)) as signer, pytest.raises(InvalidInput) as caught:
        seal(tmp_path, release_info(), signer)
    assert "gce.packages:1: expected 'NAME EPOCH VERSION RELEASE ARCH'" in str(caught.value)


def test_spdx_sbom(release_dir: Path) -> None:
    sbom = json.loads((release_dir / f"{IMAGE}-{VERSION}-openstack.spdx.json").read_text())
    assert sbom["spdxVersion"] == "SPDX-2.3"
    assert sbom["dataLicense"] == "CC0-1.0"
    assert sbom["creationInfo"]["created"] == "2026-11-24T12:00:00Z"
    packages = {p["SPDXID"]: p for p in sbom["packages"]}
    assert len(packages) == 5  # the image + 4 rpms, two kernels kept apart
    openssl = next(p for p in sbom["packages"] if p["name"] == "openssl-libs")
    assert openssl["versionInfo"] == "1:1.0.2k-26.el7_9"
    assert openssl["externalRefs"][0]["referenceLocator"] == (
        "pkg:rpm/openssl-libs@1.0.2k-26.el7_9?arch=x86_64&epoch=1"
    )
    described = [r for r in sbom["relationships"] if r["relationshipType"] == "DESCRIBES"]
    assert len(described) == 1
    contained = {r["relatedSpdxElement"] for r in sbom["relationships"][1:]}
    assert contained == set(packages) - {described[0]["relatedSpdxElement"]}


def test_package_list_accepts_rpm_none_epoch() -> None:
    (package,) = parse_packages("bash (none) 4.2 1.el6 x86_64\n", "f")
    assert package.epoch == 0 and package.evr() == "4.2-1.el6"


def test_old_clients_gpg1_verify_every_signature(release_dir: Path, keys: Keys) -> None:
    """gpg 1.4 (what EL6/EL7-era tools speak) verifies each detached signature."""
    home = new_home()
    try:
        gpg1 = ["gpg1", "--homedir", str(home), "--batch", "--no-tty"]
        subprocess.run(
            [*gpg1, "--import"], input=keys.public["good"], check=True, capture_output=True
        )
        for name in SIGNED:
            proc = subprocess.run(
                [*gpg1, "--status-fd", "1", "--verify", f"{name}.asc", name],
                cwd=release_dir,
                capture_output=True,
                text=True,
                check=False,
            )
            assert proc.returncode == 0, proc.stderr
            assert f"VALIDSIG {keys.fpr['good']}" in proc.stdout
        tampered = release_dir / "sha256sum.txt"
        tampered.write_bytes(tampered.read_bytes() + b"x")
        bad = subprocess.run(
            [*gpg1, "--verify", "sha256sum.txt.asc", "sha256sum.txt"],
            cwd=release_dir,
            capture_output=True,
            check=False,
        )
        assert bad.returncode == 1 and b"BAD signature" in bad.stderr
    finally:
        destroy_home(home)


def test_seal_sweeps_a_killed_conversions_staging_folder(keys: Keys, tmp_path: Path) -> None:
    """A conversion killed with -9 leaves its hidden `.NAME.*.part/` folder in the release."""
    directory = tmp_path / IMAGE / VERSION
    write_inputs(directory)
    stale = directory / f".{IMAGE}-{VERSION}-openstack.x1y2.part"
    stale.mkdir()
    (stale / "half.qcow2").write_bytes(b"half")
    with open_signer(SigningConfig(gnupghome=keys.home, fingerprint=keys.fpr["good"])) as signer:
        seal(directory, release_info(), signer)
    assert not stale.exists()
    assert (directory / "manifest.json.asc").is_file()
