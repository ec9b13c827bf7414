"""The openstack-glance registry against a REAL Glance API (PyPI `glance`, sqlite, the file
store, no Keystone) on 127.0.0.1: what Glance holds is read back over plain HTTP."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from release.errors import OperationError
from release.model.target import OpenStackGlanceTarget
from release.publish.engine import local_file
from release.publish.glance_image import (
    GlanceRegistry,
    GlanceSpec,
    choose_method,
    create_body,
    glance_tags,
)
from release.publish.glance_state import find_release, retire_newer
from release.publish.journal import Journal
from release.publish.openstack_client import connect
from release.publish.registry import Patience
from release.publish.retry import Retrier, RetrySettings
from tests.publish.glancekit import GlanceServer

QCOW2 = "img-1.0-openstack.qcow2"
QUICK = Patience(first=0.05, longest=0.2, timeout=120)
SPEC = GlanceSpec(el=7, arch="x86_64", disk_size=3 * (1 << 30) + 1, guest_agent=True)


def make_qcow2(directory: Path, name: str = QCOW2, size: int = 2 << 20) -> Path:
    """A real qcow2 (Glance inspects the format) of random data, made by qemu-img."""
    directory.mkdir(parents=True, exist_ok=True)
    raw = directory / "disk.raw"
    raw.write_bytes(os.urandom(size))
    out = directory / name
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(out)],
                   check=True)  # fmt: skip
    raw.unlink()
    return out


def target(glance: GlanceServer, **kw: Any) -> OpenStackGlanceTarget:
    return OpenStackGlanceTarget(type="openstack-glance", endpoint_url=glance.endpoint, **kw)


def registry(
    t: OpenStackGlanceTarget, disk: Path, journal: Journal, md5: str | None = None
) -> GlanceRegistry:
    artifact = local_file(disk, "glance", journal)
    return GlanceRegistry(
        t, artifact, "img", "1.0", SPEC, journal, sealed_md5=md5,
        retrier=Retrier(RetrySettings(attempts=4, initial_wait=0.01, max_wait=0.05)),
        patience=QUICK,
    )  # fmt: skip


def digest(path: Path, algo: str) -> str:
    return hashlib.new(algo, path.read_bytes()).hexdigest()


def test_create_body_names_the_release_and_is_private_until_verified() -> None:
    t = OpenStackGlanceTarget(
        type="openstack-glance", visibility="public", properties={"os_distro": "x", "a": "b"}
    )
    disk = Path("/nonexistent/img-1.0-openstack.qcow2")
    from release.publish.mirror import LocalFile

    body = create_body("img 1.0", LocalFile(disk.name, disk, 1, "ab" * 32, "s"), SPEC, t, "ab" * 32)
    assert body == {
        "name": "img 1.0",
        "disk_format": "qcow2",
        "container_format": "bare",
        "visibility": "private",
        "min_disk": 4,  # 3 GiB and a byte, rounded up
        "min_ram": 1024,
        "tags": ["release-image:img", "release-version:1.0", f"release-sha256:{'ab' * 32}"],
        "os_distro": "centos",
        "os_version": "7",
        "architecture": "x86_64",
        "hw_disk_bus": "virtio",
        "hw_vif_model": "virtio",
        "hw_qemu_guest_agent": "yes",
        "a": "b",
    }
    assert glance_tags("i", "2", "cd")[2] == "release-sha256:cd"
    raw = Path("/nonexistent/img-1.0-openstack.raw")
    el6 = GlanceSpec(el=6, arch="x86_64", disk_size=1 << 30, guest_agent=False)
    body = create_body("img 1.0", LocalFile(raw.name, raw, 1, "ab", "s"), el6, t, "ab")
    assert (body["disk_format"], body["min_disk"], body["min_ram"]) == ("raw", 1, 512)
    assert (body["os_version"], body["hw_qemu_guest_agent"]) == ("6", "no")


def test_choose_method() -> None:
    assert choose_method("auto", ("glance-direct", "web-download"), None) == "glance-direct"
    assert choose_method("auto", ("glance-direct", "web-download"), "http://m") == "web-download"
    assert choose_method("auto", (), "http://m") == "upload"
    assert choose_method("upload", ("glance-direct",), None) == "upload"
    with pytest.raises(OperationError, match="not offered"):
        choose_method("glance-direct", ("web-download",), None)


def test_target_model_refuses_inconsistent_settings() -> None:
    with pytest.raises(ValueError, match="share_with"):
        OpenStackGlanceTarget(type="openstack-glance", visibility="shared")
    with pytest.raises(ValueError, match="mirror_url"):
        OpenStackGlanceTarget(type="openstack-glance", import_method="web-download")


@pytest.mark.slow
def test_plain_upload_sets_properties_tags_and_glance_digests_match(
    glance: GlanceServer, tmp_path: Path
) -> None:
    disk = make_qcow2(tmp_path / "rel")
    with Journal(tmp_path / "j.sqlite") as journal:
        t = target(glance, import_method="upload", visibility="public", min_ram=2048)
        result = registry(t, disk, journal, md5=digest(disk, "md5")).publish_image()
        assert result.created
        images = glance.images()
        assert len(images) == 1
        image = images[0]
        assert result.images == {"default": image["id"]}
        assert image["status"] == "active" and image["visibility"] == "public"
        assert not image["os_hidden"]
        assert image["os_hash_algo"] == "sha512"
        assert image["os_hash_value"] == digest(disk, "sha512")
        assert image["checksum"] == digest(disk, "md5")
        assert sorted(image["tags"]) == sorted(
            ["release-image:img", "release-version:1.0", f"release-sha256:{digest(disk, 'sha256')}"]
        )
        expected = {
            "os_distro": "centos",
            "os_version": "7",
            "hw_disk_bus": "virtio",
            "hw_vif_model": "virtio",
            "hw_qemu_guest_agent": "yes",
            "architecture": "x86_64",
            "min_disk": 4,
            "min_ram": 2048,
            "disk_format": "qcow2",
        }
        assert {k: image[k] for k in expected} == expected
        assert glance.data(image["id"]) == disk.read_bytes()

        again = registry(t, disk, journal).publish_image()  # no sealed md5: hashed, once
        assert not again.created and again.images == result.images
        assert len(glance.images()) == 1
        assert find_release(t, "img", "1.0") == {"default": image["id"]}


@pytest.mark.slow
def test_glance_direct_import_shared_with_projects(glance: GlanceServer, tmp_path: Path) -> None:
    disk = make_qcow2(tmp_path / "rel")
    t = target(glance, visibility="shared", share_with=("proj-a", "proj-b"))
    assert connect(None, None, glance.endpoint).import_methods() == (
        "glance-direct",
        "web-download",
    )
    with Journal(tmp_path / "j.sqlite") as journal:
        result = registry(t, disk, journal).publish_image()
    (image,) = glance.images()
    assert image["status"] == "active" and image["visibility"] == "shared"
    assert sorted(glance.members(image["id"])) == ["proj-a", "proj-b"]
    assert image["os_hash_value"] == digest(disk, "sha512")
    assert glance.data(image["id"]) == disk.read_bytes()
    assert glance.staged() == []  # the import took the staged copy in
    assert find_release(t, "img", "1.0") == result.images
    other = t.model_copy(update={"share_with": ("proj-a", "proj-c")})
    assert find_release(other, "img", "1.0") is None  # not shared with proj-c yet


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A plain HTTP mirror on 127.0.0.1 serving <root>/<image>/<version>/<file>."""
    root = tmp_path / "mirror"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/pub", root
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_web_download_from_a_mirror(
    glance: GlanceServer, mirror: tuple[str, Path], tmp_path: Path
) -> None:
    url, root = mirror
    disk = make_qcow2(root / "pub" / "img" / "1.0")
    t = target(glance, import_method="web-download", mirror_url=url)
    with Journal(tmp_path / "j.sqlite") as journal:
        registry(t, disk, journal).publish_image()
    (image,) = glance.images()
    assert image["status"] == "active"
    assert image["os_hash_value"] == digest(disk, "sha512")
    assert image["checksum"] == digest(disk, "md5")


@pytest.mark.slow
def test_wrong_sealed_digest_leaves_the_image_private(glance: GlanceServer, tmp_path: Path) -> None:
    disk = make_qcow2(tmp_path / "rel")
    t = target(glance, import_method="upload", visibility="public")
    with Journal(tmp_path / "j.sqlite") as journal, pytest.raises(OperationError, match="md5"):
        registry(t, disk, journal, md5="0" * 32).publish_image()
    (image,) = glance.images()
    assert image["visibility"] == "private"
    assert find_release(t, "img", "1.0") is None


@pytest.mark.slow
def test_rollback_hides_or_deactivates_and_republishing_undoes_it(
    glance: GlanceServer, tmp_path: Path
) -> None:
    disk = make_qcow2(tmp_path / "rel")
    with Journal(tmp_path / "j.sqlite") as journal:
        for mode in ("hide", "deactivate"):
            t = target(glance, import_method="upload", rollback=mode)
            registry(t, disk, journal).publish_image()
            (image,) = glance.images()
            assert retire_newer(t, "img", "1.0") == [image["id"]]
            (after,) = glance.images()
            if mode == "hide":
                assert after["os_hidden"] and after["status"] == "active"
            else:
                assert after["status"] == "deactivated" and not after["os_hidden"]
            assert find_release(t, "img", "1.0") is None
            again = registry(t, disk, journal).publish_image()
            assert again.images == {"default": image["id"]}  # the same image, back in use
            (back,) = glance.images()
            assert back["status"] == "active" and not back["os_hidden"]


@pytest.mark.slow
def test_a_spare_queued_copy_is_deleted_and_a_queued_image_is_filled(
    glance: GlanceServer, tmp_path: Path
) -> None:
    """What a lost create answer, or a crash before the upload, leaves behind."""
    disk = make_qcow2(tmp_path / "rel")
    sha = digest(disk, "sha256")
    for _ in range(2):
        glance.call("POST", "/images", {
            "name": "img 1.0", "disk_format": "qcow2", "container_format": "bare",
            "tags": ["release-image:img", "release-version:1.0", f"release-sha256:{sha}"],
        })  # fmt: skip
    with Journal(tmp_path / "j.sqlite") as journal:
        registry(target(glance, import_method="upload"), disk, journal).publish_image()
    (image,) = glance.images()
    assert image["status"] == "active"
    assert glance.data(image["id"]) == disk.read_bytes()


def imports(glance: GlanceServer) -> int:
    """How many image import tasks Glance has run (its tasks API)."""
    tasks = glance.call("GET", "/tasks?limit=1000")["tasks"]
    return sum(1 for t in tasks if t["type"] == "api_image_import")


@pytest.mark.slow
def test_auto_falls_back_when_the_mirror_lacks_the_disk_and_web_download_says_why(
    glance: GlanceServer, mirror: tuple[str, Path], tmp_path: Path
) -> None:
    """Registries go before a channel's mirrors: on a first publish the mirror is empty."""
    url, _root = mirror
    disk = make_qcow2(tmp_path / "rel")
    with Journal(tmp_path / "j.sqlite") as journal:
        strict = target(glance, import_method="web-download", mirror_url=url)
        with pytest.raises(OperationError, match="not on the mirror"):
            registry(strict, disk, journal).publish_image()
        (queued,) = glance.images()
        assert queued["status"] == "queued"
        before = imports(glance)
        registry(target(glance, mirror_url=url), disk, journal).publish_image()  # auto
    (image,) = glance.images()  # the same image, filled by glance-direct
    assert image["id"] == queued["id"] and image["status"] == "active"
    assert imports(glance) == before + 1  # an import task, so not a plain upload
    assert glance.data(image["id"]) == disk.read_bytes()
