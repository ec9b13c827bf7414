from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from release.errors import InvalidInput
from release.publish import layout
from tests.publish.helpers import ARTIFACT, make_release, seal


def test_order_puts_artifacts_first_and_signatures_last() -> None:
    names = [
        "sha256sum.txt.asc",
        "manifest.json",
        "md5sum.txt",
        "img-1.0-base.spdx.json",
        "img-1.0-base.packages",
        "img-1.0-base.qcow2",
        "img-1.0-gce.tar.gz",
        "manifest.json.asc",
        "sha256sum.txt",
    ]
    assert layout.ordered(names) == [
        "img-1.0-base.qcow2",
        "img-1.0-gce.tar.gz",
        "img-1.0-base.packages",
        "img-1.0-base.spdx.json",
        "manifest.json",
        "md5sum.txt",
        "sha256sum.txt",
        "manifest.json.asc",
        "sha256sum.txt.asc",
    ]


def test_scan_reads_image_and_version_from_the_path(tmp_path: Path) -> None:
    rel = layout.scan(make_release(tmp_path, artifact_size=10))
    assert (rel.image, rel.version) == ("img", "1.0")
    assert rel.names[0] == ARTIFACT
    assert rel.names[-1] == "sha256sum.txt.asc"


def test_scan_rejects_symlinks(tmp_path: Path) -> None:
    rel = make_release(tmp_path, artifact_size=10)
    (rel / "evil.raw").symlink_to("/etc/passwd")
    with pytest.raises(InvalidInput, match="symlink"):
        layout.scan(rel)


def test_scan_rejects_subdirectories_and_unsafe_names(tmp_path: Path) -> None:
    rel = make_release(tmp_path, artifact_size=10)
    (rel / "sub").mkdir()
    with pytest.raises(InvalidInput, match="not a plain file"):
        layout.scan(rel)
    (rel / "sub").rmdir()
    (rel / "has space.raw").write_text("x")
    with pytest.raises(InvalidInput, match="whitespace"):
        layout.scan(rel)


def test_scan_rejects_a_dir_not_shaped_image_version(tmp_path: Path) -> None:
    bad = tmp_path / "img" / "not-a-version"
    bad.mkdir(parents=True)
    (bad / "a.raw").write_text("x")
    with pytest.raises(InvalidInput, match="version"):
        layout.scan(bad)


def test_sealed_digests_are_read_from_sha256sum_txt(tmp_path: Path) -> None:
    rel = make_release(tmp_path, artifact_size=10)
    seal(rel)
    digests = layout.sealed_digests(layout.scan(rel))
    assert digests[ARTIFACT] == hashlib.sha256((rel / ARTIFACT).read_bytes()).hexdigest()
    assert "sha256sum.txt" not in digests
    assert "manifest.json" in digests


def test_an_unreadable_sha256sum_txt_gives_no_digests(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rel = make_release(tmp_path, artifact_size=10)  # its sha256sum.txt is not a valid list
    assert layout.sealed_digests(layout.scan(rel)) == {}
    assert "hashing every file instead" in caplog.text
    (rel / "sha256sum.txt").unlink()
    assert layout.sealed_digests(layout.scan(rel)) == {}
