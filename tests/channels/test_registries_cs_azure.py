"""reconcile feeds a channel's cloudstack-template and azure-image targets: CloudStack on a
recording stub that checks signatures and downloads the template from a real HTTP server of
the mirror; the page blob on Azurite; Compute on a recording Resource Manager stub."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from release.channels import index as idx
from release.channels.reconcile import ReconcileResult, reconcile
from release.integrity.signing import SigningConfig
from release.pipeline import Workspace
from release.publish import azure_client
from release.publish.azure_client import CONNECTION_STRING, storage_credential
from release.publish.registry import Patience
from tests.channels.kit import IMAGE, ConfigKit, make_config, sealed_release
from tests.conftest import git
from tests.gitops import merge_feature
from tests.integrity.gpgkit import Keys
from tests.publish.armstub import ACCOUNT_ID, ArmStub, FakeCredential
from tests.publish.azurite import KEY, Azurite, azurite
from tests.publish.cloudstackstub import API_KEY, SECRET, CloudStackStub

QUICK = Patience(first=0.01, sleep=lambda _: None)
VARIANTS = ("openstack", "cloudstack", "azure")
GALLERY = "/subscriptions/sub-1/resourceGroups/images/providers/Microsoft.Compute/galleries/gal"


@dataclass
class Clouds:
    cloudstack: CloudStackStub
    arm: ArmStub
    azurite: Azurite
    http: str  # the mirror's public URL


@pytest.fixture(scope="module")
def blobs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    with azurite(tmp_path_factory.mktemp("azurite")) as found:
        yield found


@pytest.fixture
def clouds(blobs: Azurite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clouds]:
    monkeypatch.setenv("CLOUDSTACK_KEY", API_KEY)
    monkeypatch.setenv("CLOUDSTACK_SECRET", SECRET)
    monkeypatch.setenv(CONNECTION_STRING, blobs.connection_string())
    monkeypatch.setattr(azure_client, "default_credential", FakeCredential)
    service = BlobServiceClient(blobs.account_url, credential=storage_credential())
    container = service.get_container_client("releases")
    if not container.exists():
        container.create_container()
    for blob in container.list_blobs():
        container.delete_blob(blob.name)
    handler = functools.partial(_Quiet, directory=str(tmp_path))
    http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=lambda: http.serve_forever(0.05), daemon=True).start()
    stub, arm = CloudStackStub().start(), ArmStub().start()
    try:
        # make_config's clone is tmp_path/ops, its filesystem mirror tmp_path/ops/mirror
        yield Clouds(stub, arm, blobs, f"http://127.0.0.1:{http.server_address[1]}/ops/mirror")
    finally:
        stub.stop()
        arm.stop()
        http.shutdown()
        http.server_close()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def _config(
    tmp_path: Path, keys: Keys, clouds: Clouds, targets: str = "[mirror, cs, az]"
) -> tuple[ConfigKit, Workspace]:
    kit = make_config(tmp_path, keys)
    assert (kit.clone / "mirror").resolve() == (tmp_path / "ops" / "mirror").resolve()
    (kit.clone / "targets/cs.yaml").write_text(
        f"type: cloudstack-template\nendpoint: {clouds.cloudstack.url}\nmirror: mirror\n"
        f"public_url: {clouds.http}\nzones: [zone-a]\n"
    )
    (kit.clone / "targets/az.yaml").write_text(
        f"type: azure-image\naccount_url: {clouds.azurite.account_url}\ncontainer: releases\n"
        "subscription_id: sub-1\nresource_group: images\nlocation: westeurope\n"
        f"variant: azure\nendpoint_url: {clouds.arm.url}\n"
        f"gallery: {{name: gal, image: el7, storage_account_id: '{ACCOUNT_ID}'}}\n"
    )
    image = kit.clone / f"images/{IMAGE}.yaml"
    variants = "  openstack: {}\n  cloudstack: {}\n  azure: {stack: openstack, formats: [vhd]}\n"
    image.write_text(image.read_text().replace("  openstack: {}\n", variants))
    channel = kit.clone / "channels/fx-testing.yaml"
    channel.write_text(channel.read_text().replace("[mirror]", targets))
    git(kit.clone, "add", "-A")
    git(kit.clone, "commit", "-qm", "fx-testing also goes to CloudStack and Azure")
    git(kit.clone, "push", "-q", "origin", "main")
    work = Workspace(tmp_path / "work")
    for version in ("1.0.0", "1.1.0"):  # 100 pages: a page blob holds whole pages
        sealed_release(work, keys, version, variants=VARIANTS, size=51_200)
    return kit, work


def _targets(result: ReconcileResult) -> dict[str, dict[str, object]]:
    data = result.to_dict()["channels"]
    assert isinstance(data, list)
    found = next(c for c in data if c["channel"] == "fx-testing")
    return {t["target"]: t for t in found["targets"]}


@pytest.mark.slow
def test_publishes_the_template_and_gallery_version_then_a_rerun_only_looks(
    keys: Keys, clouds: Clouds, tmp_path: Path
) -> None:
    kit, work = _config(tmp_path, keys, clouds)
    result = reconcile(kit.clone, workspace=work, signing=kit.signing, patience=QUICK)
    assert result.ok, result.to_dict()
    targets = _targets(result)
    assert [targets[t]["status"] for t in ("mirror", "cs", "az")] == ["published"] * 3
    qcow2 = f"{IMAGE}-1.0.0-cloudstack.qcow2"
    sha = hashlib.sha256((work.release_dir(IMAGE, "1.0.0") / qcow2).read_bytes()).hexdigest()
    [registered] = clouds.cloudstack.sent("registerTemplate")
    # CloudStack fetched this URL and checked its SHA-256: the mirror held it before.
    assert registered["url"] == f"{clouds.http}/{IMAGE}/1.0.0/{qcow2}"
    assert registered["checksum"] == f"{{SHA-256}}{sha}"
    assert registered["passwordenabled"] == "true"
    assert targets["cs"]["images"] == {"zone-a": clouds.cloudstack.templates[0]["id"]}
    [put] = clouds.arm.sent("PUT")
    assert put.path == f"{GALLERY}/images/el7/versions/1.0.0"
    vhd = f"{IMAGE}-1.0.0-azure.vhd"
    source = put.body["properties"]["storageProfile"]["osDiskImage"]["source"]
    assert source["uri"] == f"{clouds.azurite.account_url}/releases/{IMAGE}/1.0.0/{vhd}"
    index = idx.parse_index((kit.clone / "mirror/channels/fx-testing.json").read_bytes())
    assert (index.current.version, index.serial) == ("1.0.0", 1)
    printed = json.dumps(result.to_dict())  # what --json prints
    assert SECRET not in printed and KEY not in printed and "AccountKey" not in printed

    clouds.cloudstack.calls.clear()
    clouds.arm.requests.clear()
    again = reconcile(kit.clone, workspace=work, signing=SigningConfig(key_env=None))
    assert again.noop and again.ok  # no signing key, no release made: only lookups
    assert clouds.cloudstack.commands() == ["listTemplates"]
    assert [r.method for r in clouds.arm.requests] == ["GET"]


@pytest.mark.slow
def test_a_failed_download_holds_the_index_back_and_a_rollback_hides_the_newer(
    keys: Keys, clouds: Clouds, tmp_path: Path
) -> None:
    kit, work = _config(tmp_path, keys, clouds)
    assert reconcile(kit.clone, workspace=work, signing=kit.signing, patience=QUICK).ok
    merge_feature(kit.clone, "bump", [(f"images/{IMAGE}.yaml", '"1.0.0"', '"1.1.0"')])
    clouds.cloudstack.fail_download = "Download Failed: connection refused"
    clouds.cloudstack.polls_before_ready = 0
    failed = reconcile(kit.clone, workspace=work, signing=kit.signing, patience=QUICK)
    targets = _targets(failed)
    assert targets["cs"]["status"] == "failed"
    assert "Download Failed" in str(targets["cs"]["detail"])
    assert targets["mirror"]["status"] == "failed"
    assert "registry target cs failed" in str(targets["mirror"]["detail"])
    index = idx.parse_index((kit.clone / "mirror/channels/fx-testing.json").read_bytes())
    assert (index.current.version, index.serial) == ("1.0.0", 1)

    # CloudStack fixed: the failed template is deleted by its operator, the rerun registers.
    clouds.cloudstack.fail_download = ""
    clouds.cloudstack.templates[:] = [
        t for t in clouds.cloudstack.templates if t["name"] != f"{IMAGE}-1.1.0"
    ]
    assert reconcile(kit.clone, workspace=work, signing=kit.signing, patience=QUICK).ok
    newer = next(t for t in clouds.cloudstack.templates if t["name"] == f"{IMAGE}-1.1.0")
    assert newer["ispublic"]

    merge_feature(kit.clone, "rollback", [("channels/fx-testing.yaml", "latest", '"1.0.0"')])
    back = reconcile(kit.clone, workspace=work, signing=kit.signing, patience=QUICK)
    assert back.ok, back.to_dict()
    assert clouds.cloudstack.sent("updateTemplatePermissions")[-1] == {
        "id": newer["id"],
        "ispublic": "false",
        "isfeatured": "false",
    }
    assert not newer["ispublic"]
    excluded = clouds.arm.sent("PUT")[-1]
    assert excluded.path == f"{GALLERY}/images/el7/versions/1.1.0"
    assert excluded.body["properties"]["publishingProfile"]["excludeFromLatest"] is True
    details = [str(t["detail"]) for t in _targets(back).values()]
    assert f"rollback: made CloudStack template {IMAGE}-1.1.0 private" in details
    assert "rollback: excluded gallery image version 1.1.0 from latest" in details


@pytest.mark.slow
def test_publish_channel_at_verbose_leaks_no_cloudstack_secret(
    keys: Keys, clouds: Clouds, tmp_path: Path
) -> None:
    kit, work = _config(tmp_path, keys, clouds, targets="[mirror, cs]")
    argv = [sys.executable, "-m", "tests.channels.cli_entry", "--verbose", "publish",
            "--channel", "fx-testing", "--repo", str(kit.clone), "--work", str(work.root),
            "--gnupghome", str(keys.home), "--fingerprint", keys.fpr["good"], "--json"]  # fmt: skip
    env = {**os.environ, "CLOUDSTACK_KEY": API_KEY, "CLOUDSTACK_SECRET": SECRET}
    run = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, timeout=300)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["ok"] is True
    assert len(clouds.cloudstack.sent("registerTemplate")) == 1
    assert clouds.cloudstack.refused == []  # every request signed right
    journal = (work.root / "journal.sqlite").read_bytes()
    published = b"".join(p.read_bytes() for p in (kit.clone / "mirror").rglob("*") if p.is_file())
    for text in (run.stdout, run.stderr):
        assert SECRET not in text
    for data in (journal, published):
        assert SECRET.encode() not in data
