"""reconcile and `publish --channel` feed a channel's openstack-glance target, against a REAL
Glance API on 127.0.0.1 (behind a fault proxy that only counts, so the tests see every
request sent): registries before the mirror, a failed registry holds the channel's index
back, a second run sends only lookups, a rollback hides the newer image."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from release.channels import index as idx
from release.channels.reconcile import ReconcileResult, reconcile
from release.pipeline import Workspace
from release.publish.registry import Patience
from tests.channels.kit import IMAGE, ConfigKit, make_config, sealed_release
from tests.conftest import git
from tests.faultproxy import FaultProxy
from tests.gitops import merge_feature
from tests.integrity.gpgkit import Keys
from tests.publish.glancekit import GlanceServer
from tests.publish.test_glance_image import make_qcow2

QUICK = Patience(first=0.05, longest=0.2, timeout=120)


def write_qcow2(path: Path, size: int) -> None:
    made = make_qcow2(path.parent / "tmp", path.name, size=max(size, 1 << 20))
    made.rename(path)
    (path.parent / "tmp").rmdir()


@pytest.fixture
def proxy(glance: GlanceServer) -> Iterator[FaultProxy]:
    parts = urlsplit(glance.endpoint)
    with FaultProxy((parts.hostname or "", parts.port or 0)) as counting:
        yield counting


def _config(tmp_path: Path, keys: Keys, endpoint: str, extra: str = "") -> ConfigKit:
    kit = make_config(tmp_path, keys)
    (kit.clone / "targets/glance.yaml").write_text(
        f"type: openstack-glance\nendpoint_url: {endpoint}\nvisibility: public\n{extra}"
    )
    channel = kit.clone / "channels/fx-testing.yaml"
    channel.write_text(channel.read_text().replace("[mirror]", "[mirror, glance]"))
    git(kit.clone, "add", "-A")
    git(kit.clone, "commit", "-qm", "fx-testing also goes to Glance")
    git(kit.clone, "push", "-q", "origin", "main")
    return kit


def _targets(result: ReconcileResult) -> dict[str, dict[str, object]]:
    channels = result.to_dict()["channels"]
    assert isinstance(channels, list)
    testing = next(c for c in channels if c["channel"] == "fx-testing")
    return {t["target"]: t for t in testing["targets"]}


@pytest.mark.slow
def test_glance_first_then_the_mirror_and_a_rerun_only_looks(
    keys: Keys, glance: GlanceServer, proxy: FaultProxy, tmp_path: Path
) -> None:
    kit = _config(tmp_path, keys, proxy.url)
    work = Workspace(tmp_path / "work")
    sealed_release(work, keys, "1.0.0", write=write_qcow2)
    result = reconcile(kit.clone, workspace=work, signing=kit.signing, patience=QUICK)
    assert result.ok, result.to_dict()
    targets = _targets(result)
    assert [targets[t]["status"] for t in ("glance", "mirror")] == ["published", "published"]
    assert list(targets) == ["glance", "mirror"]  # the registry went first
    (image,) = glance.images()
    assert targets["glance"]["images"] == {"default": image["id"]}
    assert image["visibility"] == "public" and image["status"] == "active"
    assert image["name"] == f"{IMAGE} 1.0.0"
    assert (image["os_distro"], image["os_version"], image["hw_qemu_guest_agent"]) == (
        "centos", "7", "no"
    )  # fmt: skip
    assert image["min_disk"] == 1  # the fixture image's 64MiB disk, in whole GiB

    proxy.requests.clear()
    again = reconcile(kit.clone, workspace=work, signing=kit.signing, patience=QUICK)
    assert again.noop, again.to_dict()
    sent = proxy.lines()
    assert sent and all(line.startswith("GET ") for line in sent), sent
    assert len(glance.images()) == 1


@pytest.mark.slow
def test_a_glance_failure_exits_1_and_holds_the_index(
    keys: Keys, glance: GlanceServer, tmp_path: Path
) -> None:
    kit = _config(tmp_path, keys, glance.endpoint, "import_method: upload\n")
    work = Workspace(tmp_path / "work")
    sealed_release(work, keys, "1.0.0", write=write_qcow2)
    sealed_release(work, keys, "1.1.0")  # random bytes named .qcow2: Glance refuses them
    assert reconcile(kit.clone, workspace=work, signing=kit.signing, patience=QUICK).ok
    merge_feature(kit.clone, "bump", [(f"images/{IMAGE}.yaml", '"1.0.0"', '"1.1.0"')])

    argv = [sys.executable, "-m", "tests.channels.cli_entry", "publish", "--channel",
            "fx-testing", "--repo", str(kit.clone), "--work", str(work.root), "--gnupghome",
            str(keys.home), "--fingerprint", keys.fpr["good"], "--json"]  # fmt: skip
    run = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert "Glance answered 415" in run.stderr
    targets = {t["target"]: t for t in json.loads(run.stdout)["channels"][0]["targets"]}
    assert targets["glance"]["status"] == "failed"
    assert targets["mirror"]["status"] == "failed"
    assert "registry target glance failed" in targets["mirror"]["detail"]
    index = idx.parse_index((kit.clone / "mirror/channels/fx-testing.json").read_bytes())
    assert index.current.version == "1.0.0"
    assert not (kit.clone / "mirror" / IMAGE / "1.1.0").exists()


@pytest.mark.slow
def test_rollback_hides_the_newer_image_and_forward_shows_it_again(
    keys: Keys, glance: GlanceServer, tmp_path: Path
) -> None:
    kit = _config(tmp_path, keys, glance.endpoint)
    work = Workspace(tmp_path / "work")
    for version in ("1.0.0", "1.1.0"):
        sealed_release(work, keys, version, write=write_qcow2)
    assert reconcile(kit.clone, workspace=work, signing=kit.signing, patience=QUICK).ok
    merge_feature(kit.clone, "bump", [(f"images/{IMAGE}.yaml", '"1.0.0"', '"1.1.0"')])
    assert reconcile(kit.clone, workspace=work, signing=kit.signing, patience=QUICK).ok
    newer = next(i for i in glance.images() if i["name"] == f"{IMAGE} 1.1.0")

    merge_feature(kit.clone, "rollback", [("channels/fx-testing.yaml", "latest", '"1.0.0"')])
    back = reconcile(kit.clone, workspace=work, signing=kit.signing, patience=QUICK)
    assert back.ok, back.to_dict()
    testing = next(c for c in back.channels if c.channel == "fx-testing")
    assert f"hid Glance image of {IMAGE} 1.1.0 ({newer['id']})" in testing.targets[-1].detail
    states = {i["name"]: (i["status"], i["os_hidden"]) for i in glance.images()}
    assert states == {f"{IMAGE} 1.0.0": ("active", False), f"{IMAGE} 1.1.0": ("active", True)}

    merge_feature(kit.clone, "forward", [("channels/fx-testing.yaml", '"1.0.0"', "latest")])
    forward = reconcile(kit.clone, workspace=work, signing=kit.signing, patience=QUICK)
    assert forward.ok, forward.to_dict()
    shown = {i["id"]: i["os_hidden"] for i in glance.images()}
    assert shown == {newer["id"]: False, **{k: v for k, v in shown.items() if k != newer["id"]}}
    assert len(shown) == 2 and not any(shown.values())  # the same image, shown again


APP_SECRET = "glance-LeakCanary-app-cred-secret-0123456789"


class KeystoneStub(http.server.BaseHTTPRequestHandler):
    """Keystone v3 for an application credential: a token whose catalog names the Glance
    under test. It records each token request's body (the one place the secret may go)."""

    server: Any

    def log_message(self, *_: object) -> None:
        pass

    def _reply(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        base = f"http://127.0.0.1:{self.server.server_address[1]}/v3/"
        links = [{"rel": "self", "href": base}]
        self._reply(200, {"version": {"id": "v3.14", "status": "stable", "links": links}})

    def do_POST(self) -> None:
        self.server.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        domain = {"id": "default", "name": "Default"}
        endpoints = [
            {"id": f"e-{region}", "interface": "public", "region": region, "region_id": region,
             "url": url}
            for region, url in self.server.glance.items()
        ]  # fmt: skip
        token = {
            "methods": ["application_credential"],
            "expires_at": "2099-01-01T00:00:00.000000Z",
            "issued_at": "2026-01-01T00:00:00.000000Z",
            "user": {"id": "u1", "name": "release", "domain": domain},
            "project": {"id": "release-tests", "name": "release-tests", "domain": domain},
            "roles": [{"id": "r1", "name": "member"}],
            "catalog": [{"type": "image", "name": "glance", "id": "s1", "endpoints": endpoints}],
        }
        self._reply(201, {"token": token}, {"X-Subject-Token": "token-not-a-secret"})


@pytest.fixture
def keystone(glance: GlanceServer, proxy: FaultProxy) -> Iterator[Any]:
    """RegionOne's image endpoint is the Glance, RegionTwo's the counting proxy in front of
    it (one Glance server for both: the test sees each region's requests go to its own)."""
    server: Any = http.server.ThreadingHTTPServer(("127.0.0.1", 0), KeystoneStub)
    server.bodies, server.glance = [], {"RegionOne": glance.endpoint, "RegionTwo": proxy.url}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
@pytest.mark.parametrize("source", ["env", "clouds.yaml"])
def test_application_credentials_never_leak(
    keys: Keys,
    glance: GlanceServer,
    keystone: Any,
    proxy: FaultProxy,
    source: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A verbose `publish --channel --json` in process (caplog sees every logger, keystoneauth
    and openstacksdk included) with an application credential from OS_* or clouds.yaml."""
    from click.testing import CliRunner

    from release.cli import cli
    from tests.channels import cli_entry  # noqa: F401 - registers publish --channel

    auth_url = f"http://127.0.0.1:{keystone.server_address[1]}/v3"
    for name in [n for n in os.environ if n.startswith("OS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(tmp_path / "none.yaml"))
    cloud = ""
    if source == "env":
        for name, value in {"OS_AUTH_TYPE": "v3applicationcredential", "OS_AUTH_URL": auth_url,
                            "OS_APPLICATION_CREDENTIAL_ID": "app-cred-id",
                            "OS_APPLICATION_CREDENTIAL_SECRET": APP_SECRET}.items():  # fmt: skip
            monkeypatch.setenv(name, value)
    else:
        clouds = tmp_path / "home" / "clouds.yaml"
        clouds.parent.mkdir()
        clouds.write_text(
            "clouds:\n  lab:\n    auth_type: v3applicationcredential\n"
            "    regions: [RegionOne, RegionTwo]\n"
            f"    auth:\n      auth_url: {auth_url}\n      application_credential_id: app-cred-id\n"
            f"      application_credential_secret: {APP_SECRET}\n"
        )
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
        cloud = "cloud: lab\n"
    kit = make_config(tmp_path, keys)
    (kit.clone / "targets/glance.yaml").write_text(
        f"type: openstack-glance\n{cloud}regions: [RegionOne, RegionTwo]\nimport_method: upload\n"
    )
    channel = kit.clone / "channels/fx-testing.yaml"
    channel.write_text(channel.read_text().replace("[mirror]", "[mirror, glance]"))
    git(kit.clone, "add", "-A")
    git(kit.clone, "commit", "-qm", "fx-testing also goes to Glance")
    work = Workspace(tmp_path / "work")
    sealed_release(work, keys, "1.0.0", write=write_qcow2)
    caplog.set_level("DEBUG")
    args = ["--verbose", "publish", "--channel", "fx-testing", "--repo", str(kit.clone),
            "--work", str(work.root), "--gnupghome", str(keys.home),
            "--fingerprint", keys.fpr["good"], "--json"]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert [b["auth"]["identity"]["application_credential"]["secret"] for b in keystone.bodies][
        :1
    ] == [APP_SECRET]  # the credential was really used
    (image,) = glance.images()
    assert json.loads(result.stdout)["channels"][0]["targets"][0]["images"] == {
        "RegionOne": image["id"],
        "RegionTwo": image["id"],
    }
    assert proxy.lines(f"GET /v2/images/{image['id']}")  # RegionTwo asked its own endpoint
    assert caplog.records, "no log record was captured: the test would see nothing"
    text = caplog.text + result.output + "".join(str(r.args) for r in caplog.records)
    assert APP_SECRET not in text
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != "clouds.yaml":  # the journal, the mirror, the work
            assert APP_SECRET.encode() not in path.read_bytes(), path
