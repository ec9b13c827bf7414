"""Build, convert and seal one image version into a release directory, for real, and verify it
with the tools a downstream user has."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from release.integrity.keysource import load_key_source
from release.integrity.manifest import Manifest
from release.integrity.signing import SigningConfig, open_signer
from release.integrity.verify import verify_release
from release.pipeline import Workspace, is_sealed, make_release
from tests.imaging.conftest import ImageFactory
from tests.integrity.gpgkit import Keys, write_keys_dir

pytestmark = pytest.mark.slow

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_release_of_every_variant_verifies(
    make_image: ImageFactory, keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    image = make_image(7, variants={"openstack": {}, "gce": {}}, formats=["qcow2", "vhd", "gce"])
    workspace = Workspace(tmp_path / "work")
    config = SigningConfig(gnupghome=keys.home, fingerprint=keys.fpr["good"])
    with open_signer(config) as signer:
        made = make_release(
            image, commit=COMMIT, workspace=workspace, signer=signer, commit_time=1700000000
        )
    assert not made.reused and is_sealed(made.directory)
    assert made.directory == tmp_path / "work/releases/fixture-el7/1.0.0"
    names = sorted(p.name for p in made.directory.iterdir())
    for variant in ("openstack", "gce"):
        base = f"fixture-el7-1.0.0-{variant}"
        assert {f"{base}.qcow2", f"{base}.vhd", f"{base}.tar.gz", f"{base}.packages"} <= set(names)
    assert not list(made.directory.parent.glob(".*staging"))

    for tool in ("md5sum", "sha1sum", "sha256sum"):
        subprocess.run([tool, "-c", "--strict", f"{tool}.txt"], cwd=made.directory, check=True,
                       capture_output=True)  # fmt: skip
    keys_dir = write_keys_dir(keys, tmp_path / "keys", {"good": ["*"]})
    result = verify_release(str(made.directory), load_key_source(keys_dir))
    assert result.ok, result.failures()
    # The commit's time is the SDE: the manifest's build time and the provenance say it.
    record = json.loads((made.directory / "manifest.json").read_text())
    assert record["build"]["time"] == "2023-11-14T22:13:20Z"
    assert result.provenance is not None
    internal = result.provenance["predicate"]["buildDefinition"]["internalParameters"]
    assert internal["SOURCE_DATE_EPOCH"] == 1700000000
    packages = (made.directory / "fixture-el7-1.0.0-gce.packages").read_text()
    assert "busybox" in packages

    with open_signer(config) as signer:
        again = make_release(image, commit=COMMIT, workspace=workspace, signer=signer)
    assert again.reused and again.directory == made.directory


def test_an_interrupted_release_resumes_without_rebuilding(
    make_image: ImageFactory,
    keys: Keys,
    tmp_path: Path,
) -> None:
    image = make_image(
        6, variants={"openstack": {}, "aws": {}}, formats=["qcow2", "raw"], raw_xz=True
    )
    workspace = Workspace(tmp_path / "work")
    staging = workspace.staging_dir(image.name, image.version)
    config = SigningConfig(gnupghome=keys.home, fingerprint=keys.fpr["good"])

    class Crash(Exception):
        pass

    class CrashingSigner:
        """Signs nothing: the crash comes after every variant is converted, before sealing."""

        fingerprint = keys.fpr["good"]

        def sign_detached(self, data: bytes) -> bytes:
            raise Crash

        def public_key(self) -> bytes:
            return b""

    with pytest.raises(Crash):
        make_release(image, commit=COMMIT, workspace=workspace, signer=CrashingSigner())
    assert (staging / "fixture-el6-1.0.0-aws.qcow2").is_file()
    assert not is_sealed(workspace.release_dir(image.name, image.version))
    converted = (staging / "fixture-el6-1.0.0-aws.qcow2").stat().st_mtime_ns

    with open_signer(config) as signer:
        made = make_release(image, commit=COMMIT, workspace=workspace, signer=signer)
    assert is_sealed(made.directory) and not staging.exists()
    assert (made.directory / "fixture-el6-1.0.0-aws.qcow2").stat().st_mtime_ns == converted
    record = Manifest.parse((made.directory / "manifest.json").read_bytes())
    xz = [a for a in record.artifacts if a.compression == "xz"]
    assert sorted(a.name for a in xz) == [
        "fixture-el6-1.0.0-aws.raw.xz",
        "fixture-el6-1.0.0-openstack.raw.xz",
    ]
    keys_dir = write_keys_dir(keys, tmp_path / "keys", {"good": ["*"]})
    result = verify_release(str(made.directory), load_key_source(keys_dir))
    assert result.ok, result.failures()
