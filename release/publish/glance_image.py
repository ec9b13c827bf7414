"""OpenStack Glance registry: the openstack variant's qcow2 (or raw) as a Glance image.

Per region: an image tagged with the release (image name, version, disk SHA-256) means the
release is there, in any state we can finish; so a rerun, after a crash or a lost answer,
fills the image it made instead of making another. The image is created private with its
properties and tags, filled by the interoperable import where the cloud offers it
(glance-direct, or web-download from a mirror) or a plain upload, and checked against the
release: Glance's own `checksum` (md5) and `os_hash_value` must be the sealed digests (sha512
is computed in the same read pass as the upload). Only then does it get its visibility and
members. The Glance client (and openstacksdk) is in `openstack_client.py`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from release.errors import OperationError
from release.model.target import OpenStackGlanceTarget
from release.publish.glance_io import HashingReader, file_digest, on_mirror
from release.publish.journal import DONE, JournalStore
from release.publish.mirror import LocalFile
from release.publish.openstack_client import GlanceClient, GlanceImage, connect, regions
from release.publish.registry import ImageResult, Patience, release_tags
from release.publish.retry import Retrier, Transient

log = logging.getLogger("release.publish")
T = TypeVar("T")
BUSY = ("saving", "uploading", "importing")  # Glance is still taking the bytes in
GONE = ("killed", "deleted", "pending_delete")
GiB, MiB = 1 << 30, 1 << 20


@dataclass(frozen=True)
class GlanceSpec:
    """What the image definition says about the image (per EL and stack)."""

    el: int
    arch: str
    disk_size: int  # bytes
    guest_agent: bool  # qemu-guest-agent is in the openstack variant's packages


def glance_tags(image: str, version: str, sha256: str) -> tuple[str, ...]:
    """Tags naming the release (Glance tags are plain strings)."""
    return tuple(f"{k}:{v}" for k, v in release_tags(image, version, sha256).items())


def properties(spec: GlanceSpec, target: OpenStackGlanceTarget) -> dict[str, str]:
    """Image properties Nova and the scheduler read; the target's extras, ours on top."""
    ours = {
        "os_distro": "centos",
        "os_version": str(spec.el),
        "architecture": spec.arch,
        "hw_disk_bus": "virtio",
        "hw_vif_model": target.hw_vif_model,
        "hw_qemu_guest_agent": "yes" if spec.guest_agent else "no",
    }
    return {**target.properties, **ours}


def create_body(
    name: str, artifact: LocalFile, spec: GlanceSpec, target: OpenStackGlanceTarget, sha256: str
) -> dict[str, object]:
    """The POST /v2/images body (pure). Private until verified: visibility comes last."""
    min_ram = target.min_ram if target.min_ram is not None else (512 if spec.el == 6 else 1024)
    return {
        "name": name,
        "disk_format": "raw" if artifact.name.endswith(".raw") else "qcow2",
        "container_format": "bare",
        "visibility": "private",
        "min_disk": -(-spec.disk_size // GiB),
        "min_ram": min_ram,
        "tags": list(glance_tags(*name_parts(name), sha256)),
        **properties(spec, target),
    }


def name_parts(name: str) -> tuple[str, str]:
    image, _, version = name.partition(" ")
    return image, version


def image_name(image: str, version: str) -> str:
    """The display name; a space cannot be in an image name or a version, so it splits back."""
    return f"{image} {version}"


def choose_method(setting: str, offered: tuple[str, ...], mirror_url: str | None) -> str:
    """How to fill the image: `auto` takes web-download (with a mirror URL that holds the
    file: pass None when it does not) or glance-direct where the cloud offers them, else a
    plain upload; a named method must be offered."""
    if setting == "auto":
        if mirror_url and "web-download" in offered:
            return "web-download"
        return "glance-direct" if "glance-direct" in offered else "upload"
    if setting != "upload" and setting not in offered:
        have = ", ".join(offered) or "none"
        raise OperationError(
            f"import_method: {setting} is not offered by this cloud (offered: {have});"
            " use auto or upload"
        )
    return setting


@dataclass
class GlanceRegistry:
    target: OpenStackGlanceTarget
    artifact: LocalFile
    image: str
    version: str
    spec: GlanceSpec
    journal: JournalStore
    sealed_md5: str | None = None
    retrier: Retrier = field(default_factory=Retrier)
    patience: Patience = field(default_factory=lambda: Patience(first=2, longest=20))
    connect: Callable[[str | None], GlanceClient] | None = None
    known: dict[str, str] = field(default_factory=dict)  # digests of the local file, by algo

    def __post_init__(self) -> None:
        self.name = image_name(self.image, self.version)
        self.tags = glance_tags(self.image, self.version, self.artifact.sha256)
        self.known["sha256"] = self.artifact.sha256
        if self.sealed_md5:
            self.known["md5"] = self.sealed_md5

    def _client(self, region: str | None) -> GlanceClient:
        if self.connect is not None:
            return self.connect(region)
        t = self.target
        return connect(t.cloud, region, t.endpoint_url)

    def _r(self, what: str, fn: Callable[[], T]) -> T:
        return self.retrier.call(what, fn)

    def publish_image(self) -> ImageResult:
        images: dict[str, str] = {}
        created = False
        for region in regions(self.target.regions):
            client = self._client(region)
            image_id, made = self.publish_region(client)
            images[place(self.target, region)] = image_id
            created = created or made
        return ImageResult(self.name, images, created)

    def publish_region(self, client: GlanceClient) -> tuple[str, bool]:
        found = self._r(f"find {self.name}", lambda: self.locate(client))
        made = found is None or found.status != "active"
        image = found or self._r(f"create {self.name}", lambda: self._create(client))
        if image.status in ("queued", "uploading", "saving"):  # saving: a killed upload
            self.fill(client, image)
        image = self.patience.wait_for(
            f"Glance image {image.id}", lambda: self._done(client, image)
        )
        self.verify(image)
        self.settle(client, image)
        where = place(self.target, client.region)
        self.journal.record(
            self.artifact.step + where, f"glance:{where}", self.artifact.name,
            self.artifact.sha256, self.artifact.size, DONE, image.id,
        )  # fmt: skip
        return image.id, made

    def locate(self, client: GlanceClient) -> GlanceImage | None:
        """The release's image, hidden ones included; failed ones and spare copies (made by a
        retried create whose answer was lost) are deleted."""
        found = [*client.find(self.tags, False), *client.find(self.tags, True)]
        for gone in [i for i in found if i.status in GONE]:
            client.delete(gone.id)
        found = [i for i in found if i.status not in GONE]
        if not found:
            return None
        rank = {"active": 0, "deactivated": 0, "importing": 1, "saving": 1, "uploading": 2}
        found.sort(key=lambda i: (rank.get(i.status, 3), i.created_at, i.id))
        for spare in found[1:]:
            if spare.status == "queued":
                log.info("deleting spare Glance image %s of %s", spare.id, self.name)
                client.delete(spare.id)
        return found[0]

    def _create(self, client: GlanceClient) -> GlanceImage:
        again = self.locate(client)  # a retried create whose first answer was lost
        if again is not None:
            return again
        body = create_body(self.name, self.artifact, self.spec, self.target, self.artifact.sha256)
        return client.create(body)

    def fill(self, client: GlanceClient, image: GlanceImage) -> None:
        offered = self._r("GET /v2/info/import", client.import_methods)
        uri = self.mirror_uri()
        there = (
            uri
            if uri and self._r(f"HEAD {uri}", lambda: on_mirror(uri, self.artifact.size))
            else None
        )
        if uri and not there and self.target.import_method == "web-download":
            raise OperationError(
                f"{uri}: not on the mirror (or not {self.artifact.size} bytes) for web-download;"
                " publish the release there first, or use import_method: auto"
            )
        method = choose_method(self.target.import_method, offered, there)
        log.info("Glance image %s: %s of %s", image.id, method, self.artifact.name)
        if there and method == "web-download":
            self._r(f"import {image.id}", lambda: client.start_import(image.id, method, there))
            return
        stage = method == "glance-direct"
        self._r(f"upload {image.id}", lambda: self._send(client, image.id, stage))
        if stage:
            self._r(f"import {image.id}", lambda: self._import(client, image.id))

    def mirror_uri(self) -> str | None:
        """Where web-download would fetch the disk: <mirror_url>/<image>/<version>/<file>."""
        if not self.target.mirror_url:
            return None
        base = self.target.mirror_url.rstrip("/")
        return f"{base}/{self.image}/{self.version}/{self.artifact.name}"

    def _send(self, client: GlanceClient, image_id: str, stage: bool) -> None:
        """One try at the bytes, unless they are already there (a lost answer, a rerun)."""
        current = client.get(image_id)
        if current.status in BUSY and current.size is None:
            # An earlier attempt's bytes are still coming in, or Glance has not yet noticed
            # they stopped (it then puts the image back to queued): ask again later.
            raise Transient(f"Glance image {image_id} is still {current.status}")
        if current.status != "queued":
            return  # the bytes are there: active, importing, or staged (its size known)
        # Glance's md5 is checked against the sealed one and its sha512 against what we read,
        # so sha512 is what this pass must compute; without a sealed md5, md5 too, and
        # sha256 to prove the bytes read are the sealed ones.
        algos = ("sha512",) if "md5" in self.known else ("sha512", "md5", "sha256")
        reader = HashingReader(self.artifact.path, self.artifact.size, algos)
        client.send(image_id, stage, reader, self.artifact.size)
        digests = reader.digests()
        if not digests or digests.get("sha256", self.artifact.sha256) != self.artifact.sha256:
            raise OperationError(
                f"{self.artifact.path}: changed while it was sent ({reader.sent} bytes read);"
                f" Glance image {image_id} will not be published"
            )
        self.known.update(digests)

    def _import(self, client: GlanceClient, image_id: str) -> None:
        if client.get(image_id).status == "uploading":  # staged, import not started yet
            client.start_import(image_id, "glance-direct")

    def _done(self, client: GlanceClient, image: GlanceImage) -> GlanceImage | None:
        current = self._r(f"get {image.id}", lambda: client.get(image.id))
        if current.status in GONE:
            raise OperationError(
                f"Glance image {image.id} of {self.name} is {current.status} (the upload or"
                " import failed); rerun to make it again"
            )
        failed = current.properties.get("os_glance_failed_import")
        if failed:
            raise OperationError(
                f"Glance image {image.id} of {self.name}: the import failed (store {failed});"
                " rerun to import it again"
            )
        if current.status == "queued" and "os_glance_import_task" not in current.properties:
            raise OperationError(f"Glance image {image.id} is still queued: nothing was uploaded")
        if current.properties.get("os_glance_importing_to_stores"):
            return None  # the import task still writes
        return None if current.status in (*BUSY, "queued") else current

    def verify(self, image: GlanceImage) -> None:
        """Glance's own digests must be the release's: md5 `checksum` and os_hash_value."""
        algo = image.hash_algo or "sha512"
        for name, theirs in (("md5", image.checksum), (algo, image.hash_value)):
            if theirs is None:
                raise OperationError(f"Glance image {image.id} has no {name} digest yet")
            ours = self.digest(name)
            if theirs.lower() != ours:
                raise OperationError(
                    f"Glance image {image.id} of {self.name}: Glance's {name} {theirs} is not"
                    f" the release's {ours}; the image stays private: delete it and rerun"
                )
        if image.size is not None and image.size != self.artifact.size:
            raise OperationError(
                f"Glance image {image.id}: {image.size} bytes, the release's disk has"
                f" {self.artifact.size}"
            )

    def digest(self, algo: str) -> str:
        """The local file's digest: sealed, computed while sending, or read now."""
        if algo not in self.known:
            if algo not in hashlib.algorithms_available:
                raise OperationError(f"Glance hashes with {algo}, which this machine lacks")
            self.known[algo] = file_digest(self.artifact.path, algo)
        return self.known[algo]

    def settle(self, client: GlanceClient, image: GlanceImage) -> None:
        """Visibility, members, not hidden, active: what users see, once verified. Checked
        until it holds twice in a row: a finishing import task may still save the image
        record it read before our change (and undo it); once, without an import task."""
        held = ["os_glance_import_task" not in image.properties]

        def poll() -> GlanceImage | None:
            current = self._r(f"get {image.id}", lambda: client.get(image.id))
            if self._r(f"check {image.id}", lambda: published(self.target, client, current)):
                if held[0]:
                    return current
                held[0] = True
                return None
            held[0] = False
            self._apply(client, current)
            return None

        self.patience.wait_for(f"Glance image {image.id} settling", poll)

    def _apply(self, client: GlanceClient, image: GlanceImage) -> None:
        want = self.target.visibility
        ops: list[dict[str, object]] = []
        if image.visibility != want:
            ops.append({"op": "replace", "path": "/visibility", "value": want})
        if image.hidden:
            ops.append({"op": "replace", "path": "/os_hidden", "value": False})
        if ops:
            self._r(f"update {image.id}", lambda: client.update(image.id, ops))
        if image.status == "deactivated":
            self._r(f"reactivate {image.id}", lambda: client.action(image.id, "reactivate"))
        if want == "shared":
            members = self._r(f"members of {image.id}", lambda: client.members(image.id))
            for project in self.target.share_with:
                if project not in members:
                    self._r(f"share {image.id}", partial(client.add_member, image.id, project))


def published(target: OpenStackGlanceTarget, client: GlanceClient, image: GlanceImage) -> bool:
    """Active, visible as the target says, shared with its projects."""
    if image.status != "active" or image.hidden or image.visibility != target.visibility:
        return False
    if target.visibility == "shared":
        return set(target.share_with) <= client.members(image.id)
    return True


def place(target: OpenStackGlanceTarget, region: str | None) -> str:
    """Where an image is, for results: its region, else the cloud's name."""
    return region or target.cloud or "default"
