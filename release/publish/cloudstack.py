"""CloudStack template registry: registerTemplate from the mirror's public URL of the qcow2.

CloudStack downloads the disk itself, so the release goes to the target's mirror first
(create-only, journaled, read back), then the template is registered with that URL and the
disk's SHA-256 (`{SHA-256}hex`, which CloudStack checks after the download). A template of the
release's name with that checksum means done; one with another checksum is refused (releases
are immutable); a zone added to the target later gets a copy (copyTemplate). Every zone is
awaited until `isready`, with a deadline and its progress logged. Rollback makes the newer
template private and unfeatured (updateTemplatePermissions).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from release.errors import OperationError
from release.model.target import CloudStackTemplateTarget
from release.publish.cloudstack_client import CloudStackApi, CloudStackError, Record, require
from release.publish.mirror import Conflict
from release.publish.registry import ImageResult, Patience

log = logging.getLogger("release.publish")

_ID = re.compile(r"\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_BROKEN = ("error", "failed", "abandoned", "not found", "corrupt")


@dataclass(frozen=True)
class TemplateSpec:
    """What the template is: its OS type per EL, and whether CloudStack sets a root password
    (the cloudstack variant's login policy: root + password)."""

    el: int
    password_enabled: bool


def template_name(image: str, version: str) -> str:
    return f"{image}-{version}"


def cs_checksum(sha256: str) -> str:
    """registerTemplate's checksum of another algorithm than MD5: `{SHA-256}<hex>`."""
    return f"{{SHA-256}}{sha256}"


def flag(value: bool) -> str:
    return "true" if value else "false"


def register_params(
    target: CloudStackTemplateTarget,
    name: str,
    url: str,
    sha256: str,
    ostype_id: str,
    spec: TemplateSpec,
) -> dict[str, str]:
    """registerTemplate's parameters (pure, so what is sent can be checked without a cloud)."""
    return {
        "name": name,
        "displaytext": f"{name} sha256:{sha256}",
        "url": url,
        "format": "QCOW2",
        "hypervisor": target.hypervisor,
        "ostypeid": ostype_id,
        "zoneids": ",".join(target.zones),
        "checksum": cs_checksum(sha256),
        "passwordenabled": flag(spec.password_enabled),
        "ispublic": flag(target.public),
        "isfeatured": flag(target.featured),
        "isextractable": "false",
    }


def is_true(record: Record, field: str) -> bool:
    return str(record.get(field, "false")).lower() == "true"


def templates(api: CloudStackApi, name: str) -> list[Record]:
    """Our templates of exactly this name, one record per zone (listTemplates matches names
    loosely)."""
    found = api.records("listTemplates", "template", templatefilter="self", name=name)
    return [t for t in found if t.get("name") == name]


def by_zone(found: list[Record]) -> dict[str, Record]:
    return {require(t, "zoneid"): t for t in found}


def find_release(
    api: CloudStackApi, target: CloudStackTemplateTarget, image: str, version: str
) -> dict[str, str] | None:
    """zone -> template id when every zone of `target` has the release's template ready and
    as visible as the target asks; else None. One listTemplates, read-only."""
    zones = by_zone(templates(api, template_name(image, version)))
    if any(z not in zones or not is_true(zones[z], "isready") for z in target.zones):
        return None
    if any(not visible_as_asked(zones[z], target) for z in target.zones):
        return None
    return {z: require(zones[z], "id") for z in target.zones}


def visible_as_asked(record: Record, target: CloudStackTemplateTarget) -> bool:
    return is_true(record, "ispublic") == target.public and (
        is_true(record, "isfeatured") == target.featured
    )


class TemplateRegistry:
    def __init__(
        self,
        target: CloudStackTemplateTarget,
        api: CloudStackApi,
        image: str,
        version: str,
        sha256: str,
        spec: TemplateSpec,
        stage: Callable[[], str],
        *,
        patience: Patience | None = None,
    ) -> None:
        """`stage` puts the release on the mirror and returns the qcow2's public URL."""
        self.target, self.api = target, api
        self.image, self.version, self.sha256 = image, version, sha256
        self.spec = spec
        self.stage = stage
        self.patience = patience or Patience(first=10, longest=60, timeout=target.wait_seconds)
        self.name = template_name(image, version)

    def find(self) -> list[Record]:
        found = templates(self.api, self.name)
        other = [t for t in found if str(t.get("checksum", "")) != cs_checksum(self.sha256)]
        if other:
            raise Conflict(
                f"CloudStack template {self.name} exists with other contents"
                f" (checksum {other[0].get('checksum')}); templates are immutable:"
                " publish a new version"
            )
        return found

    def ostype_id(self) -> str:
        wanted = self.target.os_types.get(self.spec.el)
        if wanted is None:
            raise OperationError(
                f"CloudStack target has no os_types entry for EL{self.spec.el}: add one"
            )
        if _ID.fullmatch(wanted):
            return wanted
        found = self.api.records("listOsTypes", "ostype", description=wanted)
        exact = [t for t in found if t.get("description") == wanted]
        if not exact:
            raise CloudStackError(
                f"CloudStack knows no OS type {wanted!r}: set os_types for EL{self.spec.el}"
                " to a description listOsTypes shows, or its id"
            )
        return require(exact[0], "id")

    def register(self, url: str) -> None:
        params = register_params(
            self.target, self.name, url, self.sha256, self.ostype_id(), self.spec
        )
        try:
            self.api.call("registerTemplate", **params)
        except CloudStackError:
            # A retried call whose first answer was lost: CloudStack registered it then.
            if not self.find():
                raise
            log.info("CloudStack template %s: registered by an earlier attempt", self.name)

    def _ready(self) -> list[Record] | None:
        zones = by_zone(self.find())
        waiting = []
        for zone in self.target.zones:
            record = zones.get(zone)
            status = str(record.get("status", "")) if record else "not listed yet"
            if record is not None and is_true(record, "isready"):
                continue
            if any(word in status.lower() for word in _BROKEN):
                raise OperationError(
                    f"CloudStack template {self.name} in zone {zone}: {status}; delete it"
                    " and rerun (is the mirror's URL reachable from CloudStack?)"
                )
            waiting.append(f"{zone}: {status or 'queued'}")
        if waiting:
            log.info("CloudStack template %s: %s", self.name, "; ".join(waiting))
            return None
        return [zones[z] for z in self.target.zones]

    def copy(self, found: list[Record], zones: list[str]) -> None:
        """copyTemplate from a zone where it is ready to `zones` (CloudStack copies it from
        its secondary storage; the wait that follows sees the new zones' progress)."""
        ready = [t for t in found if is_true(t, "isready")]
        if not ready:
            raise OperationError(
                f"CloudStack template {self.name} is not ready in any zone yet, so it cannot be"
                f" copied to {', '.join(zones)}; rerun later"
            )
        self.api.call(
            "copyTemplate",
            id=require(ready[0], "id"),
            sourcezoneid=require(ready[0], "zoneid"),
            destzoneids=",".join(zones),
        )

    def set_visibility(self, template_id: str, public: bool, featured: bool) -> None:
        self.api.call(
            "updateTemplatePermissions",
            id=template_id,
            ispublic=flag(public),
            isfeatured=flag(featured),
        )

    def publish_image(self) -> ImageResult:
        """Register (when no zone has it) or copy it to the zones lacking it, wait until every
        zone has it ready, then make it as visible as the target asks (after a rollback,
        again)."""
        found = self.find()
        created = False
        missing = set(self.target.zones) - set(by_zone(found))
        if found and missing:  # a zone added to the target since
            self.copy(found, sorted(missing))
            created = True
        if not found:
            self.register(self.stage())
            created = True
        ready = self.patience.wait_for(f"CloudStack template {self.name}", self._ready)
        for record in ready:
            if not visible_as_asked(record, self.target):
                self.set_visibility(require(record, "id"), self.target.public, self.target.featured)
                break  # one template id, in every zone
        ids = {z: require(r, "id") for z, r in zip(self.target.zones, ready, strict=True)}
        return ImageResult(self.name, ids, created)


def hide_newer(api: CloudStackApi, image: str, newer: str) -> str:
    """After a rollback: make the newer version's template private and unfeatured, so users
    picking a template see the one the channel rolled back to. Returns its name."""
    name = template_name(image, newer)
    found = templates(api, name)
    if not found:
        raise OperationError(f"CloudStack template {name}: not found")
    api.call(
        "updateTemplatePermissions",
        id=require(found[0], "id"),
        ispublic="false",
        isfeatured="false",
    )
    return name
