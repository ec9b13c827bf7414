"""The OpenStack Image service (Glance v2) client: the one place openstacksdk is imported.

A connection comes from clouds.yaml (`cloud:`) or the OS_* environment, application
credentials included, through openstacksdk's own config loader: no secret is read, logged or
passed by us. With `endpoint_url` (a Glance without Keystone, as in the tests) no auth at all.
Calls go through the SDK's image adapter as plain Glance v2 REST, so what is sent is what
this module says; every answer is turned into a `GlanceImage` or one of this module's
exceptions (`Transient` for what is worth retrying). SDK-level retries are off: the budget of
`release/publish/retry.py` is the whole budget.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, cast

from release.errors import OperationError
from release.publish.retry import Transient

if TYPE_CHECKING:
    import requests


class GlanceError(OperationError):
    """Glance refused a request, permanently (4xx other than 408/409/429)."""

    def __init__(self, what: str, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"{what}: Glance answered {status} {message}".rstrip())


class GlanceNotFound(GlanceError):
    """404: the image (or the endpoint) is not there."""


class GlanceAuthError(GlanceError):
    """401/403: the credentials are missing, wrong, or not allowed to do this."""


@dataclass(frozen=True)
class GlanceImage:
    """What we read of an image record (GET /v2/images/{id})."""

    id: str
    name: str
    status: str  # queued, saving, uploading, importing, active, deactivated, killed, deleted
    visibility: str
    hidden: bool
    tags: tuple[str, ...]
    created_at: str
    checksum: str | None = None  # md5, Glance's own
    hash_algo: str | None = None  # os_hash_algo, sha512 by default
    hash_value: str | None = None
    size: int | None = None
    properties: Mapping[str, str] = field(default_factory=dict)


_CORE = {
    "id", "name", "status", "visibility", "os_hidden", "tags", "created_at", "updated_at",
    "checksum", "os_hash_algo", "os_hash_value", "size", "virtual_size", "self", "file",
    "schema", "owner", "protected", "container_format", "disk_format", "min_disk", "min_ram",
    "locations", "direct_url", "stores",
}  # fmt: skip


def image_of(data: Mapping[str, object]) -> GlanceImage:
    """A GlanceImage from a JSON image record (pure)."""

    def text(key: str) -> str | None:
        value = data.get(key)
        return None if value is None else str(value)

    size = data.get("size")
    tags = data.get("tags")
    return GlanceImage(
        id=str(data["id"]),
        name=text("name") or "",
        status=text("status") or "",
        visibility=text("visibility") or "",
        hidden=bool(data.get("os_hidden", False)),
        tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
        created_at=text("created_at") or "",
        checksum=text("checksum"),
        hash_algo=text("os_hash_algo"),
        hash_value=text("os_hash_value"),
        size=size if isinstance(size, int) else None,
        properties={k: str(v) for k, v in data.items() if k not in _CORE and v is not None},
    )


class _Adapter(Protocol):
    """The slice of keystoneauth's Adapter (openstacksdk's image proxy) we use."""

    def request(self, url: str, method: str, **kwargs: object) -> requests.Response: ...


def translate(what: str, exc: Exception) -> Exception:
    """Our error for a transport failure of keystoneauth/requests (connection, timeout)."""
    from keystoneauth1 import exceptions as ksa

    if isinstance(exc, ksa.ConnectionError | ksa.RetriableConnectionFailure):
        return Transient(f"{what}: {type(exc).__name__}: {exc}")
    if isinstance(exc, ksa.EndpointNotFound | ksa.MissingAuthPlugin | ksa.Unauthorized):
        return OperationError(f"{what}: {exc} (check clouds.yaml or the OS_* variables)")
    if isinstance(exc, ksa.ClientException):
        return OperationError(f"{what}: {exc}")
    return exc


def check(what: str, response: requests.Response) -> requests.Response:
    """The response if it is a success; else the error to raise for its status."""
    status = response.status_code
    if status < 400:
        return response
    message = response.text[:300].replace("\n", " ").strip()
    if status in (408, 409, 429) or status >= 500:
        raise Transient(f"{what}: Glance answered {status} {message}".rstrip())
    if status == 404:
        raise GlanceNotFound(what, status, message)
    if status in (401, 403):
        raise GlanceAuthError(what, status, message)
    raise GlanceError(what, status, message)


class GlanceClient:
    """Glance v2 calls for one region. Each method is one request and may raise
    `Transient`, `GlanceError` (and its subclasses) or `OperationError`."""

    def __init__(self, adapter: _Adapter, region: str | None) -> None:
        self._adapter = adapter
        self.region = region

    def _call(self, what: str, method: str, url: str, **kwargs: object) -> requests.Response:
        try:
            response = self._adapter.request(
                url, method, raise_exc=False, connect_retries=0, status_code_retries=0, **kwargs
            )
        except Exception as exc:
            ours = translate(what, exc)
            if ours is exc:
                raise
            raise ours from exc
        return check(what, response)

    def import_methods(self) -> tuple[str, ...]:
        """The interoperable import methods the cloud offers (GET /v2/info/import)."""
        try:
            data = self._call("GET /v2/info/import", "GET", "/info/import").json()
        except GlanceNotFound:
            return ()  # an old Glance without the interoperable import
        value = data.get("import-methods", {}).get("value", [])
        return tuple(str(m) for m in value)

    def find(self, tags: tuple[str, ...], hidden: bool) -> list[GlanceImage]:
        """Images carrying every tag; `hidden` lists the os_hidden ones (Glance lists those
        only when asked)."""
        params: list[tuple[str, str]] = [("tag", t) for t in tags]
        params += [("os_hidden", "true" if hidden else "false"), ("limit", "100")]
        data = self._call("list images", "GET", "/images", params=params).json()
        return [image_of(i) for i in data.get("images", [])]

    def get(self, image_id: str) -> GlanceImage:
        return image_of(self._call(f"get image {image_id}", "GET", f"/images/{image_id}").json())

    def create(self, body: Mapping[str, object]) -> GlanceImage:
        what = f"create image {body.get('name')}"
        return image_of(self._call(what, "POST", "/images", json=dict(body)).json())

    def update(self, image_id: str, ops: list[dict[str, object]]) -> GlanceImage:
        """A JSON-patch of the image record (properties, os_hidden, visibility)."""
        headers = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
        response = self._call(
            f"update image {image_id}", "PATCH", f"/images/{image_id}", json=ops, headers=headers
        )
        return image_of(response.json())

    def send(self, image_id: str, stage: bool, data: Iterable[bytes], size: int) -> None:
        """PUT the bytes: into the image (plain upload) or its staging area (glance-direct)."""
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Length": str(size),
            "X-OpenStack-Image-Size": str(size),
        }
        part = "stage" if stage else "file"
        self._call(f"upload image {image_id} ({part})", "PUT", f"/images/{image_id}/{part}",
                   data=data, headers=headers)  # fmt: skip

    def start_import(self, image_id: str, method: str, uri: str | None = None) -> None:
        body: dict[str, object] = {"method": {"name": method, **({"uri": uri} if uri else {})}}
        self._call(f"import image {image_id} ({method})", "POST", f"/images/{image_id}/import",
                   json=body)  # fmt: skip

    def action(self, image_id: str, action: str) -> None:
        """deactivate or reactivate."""
        self._call(f"{action} image {image_id}", "POST", f"/images/{image_id}/actions/{action}")

    def delete(self, image_id: str) -> None:
        with contextlib.suppress(GlanceNotFound):
            self._call(f"delete image {image_id}", "DELETE", f"/images/{image_id}")

    def members(self, image_id: str) -> set[str]:
        data = self._call(f"list members of {image_id}", "GET", f"/images/{image_id}/members")
        return {str(m["member_id"]) for m in data.json().get("members", [])}

    def add_member(self, image_id: str, project: str) -> None:
        self._call(f"share image {image_id} with {project}", "POST",
                   f"/images/{image_id}/members", json={"member": project})  # fmt: skip


def connect(cloud: str | None, region: str | None, endpoint: str | None) -> GlanceClient:
    """A client for one region: clouds.yaml's `cloud` or OS_*; with `endpoint`, no auth."""
    import openstack
    from keystoneauth1 import exceptions as ksa
    from openstack import exceptions as osx

    try:
        if endpoint:
            conn = openstack.connect(
                auth_type="none",
                auth={"endpoint": endpoint},
                image_endpoint_override=endpoint,
                region_name=region,
                load_yaml_config=False,
                load_envvars=False,
                connect_retries=0,
                status_code_retries=0,
            )
        else:
            conn = openstack.connect(
                cloud=cloud, region_name=region, connect_retries=0, status_code_retries=0
            )
        return GlanceClient(cast(_Adapter, conn.image), region)
    except (osx.SDKException, ksa.ClientException) as exc:
        where = f"cloud {cloud!r}" if cloud else "the OS_* environment"
        raise OperationError(
            f"OpenStack connection from {where}: {exc} (check clouds.yaml or the OS_* variables)"
        ) from exc


def regions(target_regions: tuple[str, ...]) -> Iterator[str | None]:
    """The regions to publish to; none named: the cloud's own (None)."""
    yield from target_regions or (None,)
