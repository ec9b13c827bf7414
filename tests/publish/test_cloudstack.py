"""The CloudStack template registry against a recording stub of the API that checks request
signatures as CloudStack does and downloads the template from a real HTTP server of the
mirror directory (so the URL registered must serve the published qcow2)."""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from release.channels.registries import publish_image
from release.errors import OperationError
from release.model.image import ImageDefinition
from release.model.target import CloudStackTemplateTarget, FilesystemTarget
from release.publish import cloudstack
from release.publish.cloudstack_client import (
    CloudStackApi,
    CloudStackAuthError,
    Credentials,
    credentials,
)
from release.publish.journal import Journal
from release.publish.mirror import Conflict
from release.publish.registry import Patience
from release.publish.retry import Retrier, RetrySettings
from tests.faultproxy import Fault, FaultProxy
from tests.publish.cloudstackstub import API_KEY, OSTYPES, SECRET, CloudStackStub
from tests.publish.helpers import seal

QUICK = Patience(first=0.01, sleep=lambda _: None)
QCOW2 = "img-1.0-cloudstack.qcow2"
FAST = Retrier(RetrySettings(attempts=4, initial_wait=0.01, max_wait=0.01))


@dataclass
class World:
    stub: CloudStackStub
    mirror: Path
    http: str  # the mirror's public base URL
    release: Path


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDSTACK_KEY", API_KEY)
    monkeypatch.setenv("CLOUDSTACK_SECRET", SECRET)


@pytest.fixture
def world(tmp_path: Path, creds: None) -> Iterator[World]:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    handler = functools.partial(_Quiet, directory=str(mirror))
    http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=lambda: http.serve_forever(0.05), daemon=True).start()
    stub = CloudStackStub().start()
    release = tmp_path / "work" / "img" / "1.0"
    release.mkdir(parents=True)
    (release / QCOW2).write_bytes(b"QFI\xfb" + bytes(range(256)) * 400)
    (release / "img-1.0-cloudstack.packages").write_text("bash\t0\t4.2\t1\tx86_64\n")
    (release / "manifest.json").write_text('{"image": "img", "version": "1.0"}\n')
    (release / "manifest.json.asc").write_text("-----BEGIN PGP SIGNATURE-----\n")
    (release / "sha256sum.txt.asc").write_text("-----BEGIN PGP SIGNATURE-----\n")
    seal(release)
    try:
        yield World(stub, mirror, f"http://127.0.0.1:{http.server_address[1]}/pub", release)
    finally:
        stub.stop()
        http.shutdown()
        http.server_close()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def translate_path(self, path: str) -> str:  # the mirror is served under /pub/
        return super().translate_path(path.removeprefix("/pub"))


def _image(el: int = 7, login: str | None = None) -> ImageDefinition:
    variant: dict[str, object] = {"formats": ["qcow2"]}
    if login:
        variant["template"] = {"login": login}
    return ImageDefinition.model_validate(
        {
            "name": "img",
            "version": "1.0",
            "el": el,
            "sources": [{"name": "os", "baseurl": "http://x/os", "gpgcheck": False}],
            "packages": ["bash"],
            "disk": {"size": "64MiB"},
            "variants": {"cloudstack": variant},
        }
    )


def _target(w: World, endpoint: str | None = None, **kw: object) -> CloudStackTemplateTarget:
    return CloudStackTemplateTarget.model_validate(
        {
            "type": "cloudstack-template",
            "endpoint": endpoint or w.stub.url,
            "mirror": "pub",
            "public_url": w.http,
            "zones": ["zone-a", "zone-b"],
            **kw,
        }
    )


def _publish(w: World, target: CloudStackTemplateTarget, tmp: Path, image: ImageDefinition):  # type: ignore[no-untyped-def]
    with Journal(tmp / "journal.sqlite") as journal:
        return publish_image(
            target,
            w.release,
            image,
            journal,
            patience=QUICK,
            mirrors={"pub": FilesystemTarget(type="filesystem", path=str(w.mirror))},
        )


def _sha() -> str:
    return hashlib.sha256(b"QFI\xfb" + bytes(range(256)) * 400).hexdigest()


def test_registers_from_the_mirror_url_waits_until_ready_then_a_rerun_only_looks(
    world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    result = _publish(world, _target(world), tmp_path, _image())
    assert "40% Downloaded" in caplog.text  # progress, per zone
    assert SECRET not in caplog.text and SECRET not in repr(result)
    assert result.created
    template_id = world.stub.templates[0]["id"]
    assert result.images == {"zone-a": template_id, "zone-b": template_id}
    # The release went to the mirror first: CloudStack downloaded it from there.
    assert (world.mirror / "img/1.0" / QCOW2).read_bytes() == (world.release / QCOW2).read_bytes()
    [sent] = world.stub.sent("registerTemplate")
    assert sent == {
        "name": "img-1.0",
        "displaytext": f"img-1.0 sha256:{_sha()}",
        "url": f"{world.http}/img/1.0/{QCOW2}",
        "format": "QCOW2",
        "hypervisor": "KVM",
        "ostypeid": OSTYPES["CentOS 7"],
        "zoneids": "zone-a,zone-b",
        "checksum": "{SHA-256}" + _sha(),
        "passwordenabled": "true",  # the cloudstack variant's login: root + password
        "ispublic": "true",
        "isfeatured": "false",
        "isextractable": "false",
    }
    assert world.stub.sent("listOsTypes") == [{"description": "CentOS 7"}]
    assert all(t["isready"] for t in world.stub.templates)
    assert world.stub.commands().count("listTemplates") >= 3  # polled until ready
    assert world.stub.refused == []

    world.stub.calls.clear()
    again = _publish(world, _target(world), tmp_path, _image())
    assert not again.created and again.images == result.images
    assert set(world.stub.commands()) == {"listTemplates"}


def test_el6_keys_login_private_featured_and_an_os_type_by_id(world: World, tmp_path: Path) -> None:
    target = _target(world, public=False, featured=True, hypervisor="XenServer", os_types={6: "66"})
    _publish(world, target, tmp_path, _image(el=6, login="keys"))
    [sent] = world.stub.sent("registerTemplate")
    assert (sent["ostypeid"], sent["hypervisor"]) == ("66", "XenServer")
    assert (sent["passwordenabled"], sent["ispublic"], sent["isfeatured"]) == (
        "false",
        "false",
        "true",
    )
    assert world.stub.sent("listOsTypes") == []  # "66" is not a description to look up


def test_a_template_of_the_same_name_with_other_contents_is_refused(
    world: World, tmp_path: Path
) -> None:
    _publish(world, _target(world), tmp_path, _image())
    for t in world.stub.templates:
        t["checksum"] = "{SHA-256}" + "0" * 64
    with pytest.raises(Conflict, match="other contents"):
        _publish(world, _target(world), tmp_path, _image())
    assert len(world.stub.sent("registerTemplate")) == 1


def test_a_failed_download_is_an_error_naming_the_zone_and_status(
    world: World, tmp_path: Path
) -> None:
    target = _target(world, public_url="http://127.0.0.1:9/nothing")
    with pytest.raises(OperationError, match="zone-a: Download Failed"):
        _publish(world, target, tmp_path, _image())


def test_waiting_has_a_deadline(world: World, tmp_path: Path) -> None:
    world.stub.polls_before_ready = 10**6  # downloading for ever
    target = _target(world)
    (world.mirror / "x").write_bytes((world.release / QCOW2).read_bytes())
    registry = cloudstack.TemplateRegistry(
        target,
        CloudStackApi(target.endpoint, FAST),
        "img",
        "1.0",
        _sha(),
        cloudstack.TemplateSpec(el=7, password_enabled=True),
        lambda: f"{world.http}/x",
        patience=Patience(first=0.01, longest=0.01, timeout=0.05),
    )
    with pytest.raises(OperationError, match="not done after"):
        registry.publish_image()


def test_rollback_makes_the_newer_template_private_and_a_republish_restores_it(
    world: World, tmp_path: Path
) -> None:
    target = _target(world, featured=True)
    _publish(world, target, tmp_path, _image())
    api = CloudStackApi(target.endpoint, FAST)
    assert cloudstack.find_release(api, target, "img", "1.0") is not None
    assert cloudstack.hide_newer(api, "img", "1.0") == "img-1.0"
    [hidden] = world.stub.sent("updateTemplatePermissions")
    assert hidden == {
        "id": world.stub.templates[0]["id"],
        "ispublic": "false",
        "isfeatured": "false",
    }
    assert not any(t["ispublic"] or t["isfeatured"] for t in world.stub.templates)
    # Reconcile's lookup no longer counts it as published, so rolling forward fixes it.
    assert cloudstack.find_release(api, target, "img", "1.0") is None
    again = _publish(world, target, tmp_path, _image())
    assert not again.created
    assert world.stub.sent("updateTemplatePermissions")[-1]["ispublic"] == "true"
    assert all(t["ispublic"] and t["isfeatured"] for t in world.stub.templates)
    assert len(world.stub.sent("registerTemplate")) == 1


def test_a_bad_signature_is_refused_by_the_stub_and_reported_as_credentials(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = CloudStackApi(world.stub.url, FAST, Credentials(API_KEY, "not-the-secret"))
    with pytest.raises(CloudStackAuthError, match="signature") as caught:
        api.records("listTemplates", "template", templatefilter="self")
    assert "not-the-secret" not in str(caught.value)
    assert len(world.stub.refused) == 1 and world.stub.calls == []  # refused, not retried
    # A request signed right, then changed on the way, is refused too.
    good = CloudStackApi(world.stub.url, FAST)
    good.records("listTemplates", "template", templatefilter="self", name="img-1.0")
    sent: list[str] = []
    monkeypatch.setattr(
        requests.Session, "send", _tamper(requests.Session.send, sent), raising=True
    )
    with pytest.raises(CloudStackAuthError):
        good.records("listTemplates", "template", templatefilter="self", name="img-1.0")
    assert "name=img-2.0" in sent[0]
    assert len(world.stub.refused) == 2


def _tamper(send, sent: list[str]):  # type: ignore[no-untyped-def]
    def tampered(self, prepared, **kw):  # type: ignore[no-untyped-def]
        prepared.url = prepared.url.replace("name=img-1.0", "name=img-2.0")
        sent.append(urllib.parse.unquote(prepared.url))
        return send(self, prepared, **kw)

    return tampered


def test_credentials_come_from_the_environment_and_never_show(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    found = credentials({"CLOUDSTACK_KEY": "k" * 20, "CLOUDSTACK_SECRET": "s3cr3t"})
    assert (found.key, found.secret) == ("k" * 20, "s3cr3t")
    assert "s3cr3t" not in repr(found)
    for name in ("CLOUDSTACK_KEY", "CLOUDSTACK_SECRET", "CLOUDSTACK_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSTACK_CONFIG", str(tmp_path / "none.ini"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(CloudStackAuthError, match="CLOUDSTACK_KEY"):
        credentials()


def test_faults_are_retried_and_a_lost_answer_registers_once(world: World, tmp_path: Path) -> None:
    host, port = urllib.parse.urlsplit(world.stub.url).netloc.split(":")
    with FaultProxy((host, int(port))) as proxy:
        proxy.add(Fault("503", match="command=listTemplates", count=2))
        proxy.add(Fault("drop", match="command=registerTemplate"))  # it landed; no answer
        proxy.add(Fault("reset", match="command=listOsTypes"))
        result = _publish(
            world, _target(world, endpoint=f"{proxy.url}/client/api"), tmp_path, _image()
        )
        assert proxy.pending() == []
    assert result.images["zone-a"] == world.stub.templates[0]["id"]
    assert len({t["id"] for t in world.stub.templates}) == 1  # one template, not two
    assert len(world.stub.templates) == 2  # in each zone once


def test_a_zone_added_later_gets_a_copy_not_a_second_template(world: World, tmp_path: Path) -> None:
    first = _publish(world, _target(world, zones=["zone-a"]), tmp_path, _image())
    template_id = first.images["zone-a"]
    result = _publish(world, _target(world), tmp_path, _image())  # zones a and b
    assert result.created
    assert result.images == {"zone-a": template_id, "zone-b": template_id}
    assert world.stub.sent("copyTemplate") == [
        {"id": template_id, "sourcezoneid": "zone-a", "destzoneids": "zone-b"}
    ]
    assert len(world.stub.sent("registerTemplate")) == 1
    assert all(t["isready"] for t in world.stub.templates)
