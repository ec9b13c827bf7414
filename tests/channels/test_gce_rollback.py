"""A rollback on a channel with a gce-image target deprecates the newer image in the family
(GCE Compute has no emulator: a recording stub on 127.0.0.1 checks what was sent)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from release.channels.reconcile import reconcile
from release.pipeline import Workspace
from release.publish.gce_deprecate import deprecation_status
from tests.channels.kit import IMAGE, make_config, sealed_release
from tests.conftest import git
from tests.gitops import merge_feature
from tests.integrity.gpgkit import Keys
from tests.publish.cloudstub import ComputeHandler, Stub


class DeprecateHandler(ComputeHandler):
    """The stub's images resource, plus images.deprecate."""

    def do_POST(self) -> None:
        if self.path.split("?")[0].endswith("/deprecate"):
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self._record(json.loads(raw))
            name = self.path.split("?")[0].split("/")[-2]
            with self.owner._lock:  # GET shows the image's deprecation from now on
                self.owner.images[name]["deprecated"] = json.loads(raw)
            self._reply(200, {"name": "op-2", "status": "DONE", "kind": "compute#operation"})
            return
        super().do_POST()


@pytest.fixture
def compute() -> Iterator[Stub]:
    stub = Stub().start(DeprecateHandler)
    try:
        yield stub
    finally:
        stub.stop()


def test_rollback_deprecates_the_newer_gce_image(keys: Keys, compute: Stub, tmp_path: Path) -> None:
    kit = make_config(tmp_path, keys)
    gce = "type: gce-image\nproject: proj\nbucket: staging\nfamily: fx\n"
    (kit.clone / "targets/gce.yaml").write_text(f"{gce}endpoint_url: {compute.url}\n")
    image = kit.clone / f"images/{IMAGE}.yaml"
    with_gce = "  openstack: {}\n  gce: {formats: [gce]}\n"
    image.write_text(image.read_text().replace("  openstack: {}\n", with_gce))
    channel = kit.clone / "channels/fx-testing.yaml"
    channel.write_text(channel.read_text().replace("[mirror]", "[mirror, gce]"))
    git(kit.clone, "add", "-A")
    git(kit.clone, "commit", "-qm", "fx-testing also goes to a GCE image family")
    git(kit.clone, "push", "-q", "origin", "main")
    work = Workspace(tmp_path / "work")
    sealed_release(work, keys, "1.0.0", variants=("openstack", "gce"))
    newer = sealed_release(work, keys, "1.1.0", variants=("openstack", "gce"))
    disk = hashlib.sha256((newer / f"{IMAGE}-1.1.0-gce.tar.gz").read_bytes()).hexdigest()
    merge_feature(kit.clone, "bump", [(f"images/{IMAGE}.yaml", '"1.0.0"', '"1.1.0"')])
    for version in ("1-0-0", "1-1-0"):  # published earlier: reconcile finds them by name
        compute.images[f"fixture-el7-{version}"] = {
            "name": f"fixture-el7-{version}",
            "status": "READY",
            "description": f"sha256:{disk}",
        }
    first = reconcile(kit.clone, workspace=work, signing=kit.signing)
    testing = next(c for c in first.channels if c.channel == "fx-testing")
    gce_outcome = next(t for t in testing.targets if t.target == "gce")
    assert (gce_outcome.status, gce_outcome.images) == ("up-to-date", {"proj": "fixture-el7-1-1-0"})
    assert not [r for r in compute.requests if r.method == "POST"]

    merge_feature(kit.clone, "rollback", [("channels/fx-testing.yaml", "latest", '"1.0.0"')])
    result = reconcile(kit.clone, workspace=work, signing=kit.signing)
    assert result.ok, result.to_dict()
    sent = [r for r in compute.requests if r.path.endswith("/deprecate")]
    assert [r.path for r in sent] == [
        "/compute/v1/projects/proj/global/images/fixture-el7-1-1-0/deprecate"
    ]
    assert sent[0].body == deprecation_status("proj", "fixture-el7-1-0-0")
    testing = next(c for c in result.channels if c.channel == "fx-testing")
    assert "deprecated GCE image fixture-el7-1-1-0" in testing.targets[-1].detail

    # Forward again: the newer image is made what the family resolves to (ACTIVE) once more.
    compute.requests.clear()
    merge_feature(kit.clone, "forward", [("channels/fx-testing.yaml", '"1.0.0"', "latest")])
    again = reconcile(kit.clone, workspace=work, signing=kit.signing)
    assert again.ok, again.to_dict()
    sent = [r for r in compute.requests if r.path.endswith("/deprecate")]
    assert [(r.path, r.body) for r in sent] == [
        ("/compute/v1/projects/proj/global/images/fixture-el7-1-1-0/deprecate", {"state": "ACTIVE"})
    ]
    assert not [r for r in compute.requests if r.path.endswith("/images")]  # no insert
    final = reconcile(kit.clone, workspace=work, signing=kit.signing)
    assert final.noop, final.to_dict()
