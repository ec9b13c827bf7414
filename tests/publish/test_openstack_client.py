"""The Glance client's pure parts: answers to errors, image records to GlanceImage."""

from __future__ import annotations

import pytest
import requests
from keystoneauth1 import exceptions as ksa

from release.errors import OperationError
from release.publish.openstack_client import (
    GlanceAuthError,
    GlanceError,
    GlanceNotFound,
    check,
    image_of,
    translate,
)
from release.publish.retry import Transient


def answer(status: int, text: str = "") -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = text.encode()
    return response


@pytest.mark.parametrize(
    ("status", "kind"),
    [(408, Transient), (409, Transient), (429, Transient), (500, Transient), (503, Transient),
     (404, GlanceNotFound), (401, GlanceAuthError), (403, GlanceAuthError), (400, GlanceError),
     (415, GlanceError)],
)  # fmt: skip
def test_each_status_becomes_the_error_a_caller_can_act_on(status: int, kind: type) -> None:
    with pytest.raises(kind, match=f"upload image x: Glance answered {status} no\\b"):
        check("upload image x", answer(status, "no\nway"))
    assert check("ok", answer(204)).status_code == 204


def test_transport_failures_are_transient_and_config_ones_are_not() -> None:
    assert isinstance(translate("get", ksa.ConnectFailure("refused")), Transient)
    assert isinstance(translate("get", ksa.ConnectTimeout("slow")), Transient)
    missing = translate("get", ksa.EndpointNotFound("no image endpoint"))
    assert type(missing) is OperationError and "clouds.yaml" in str(missing)
    other = ValueError("not ours")
    assert translate("get", other) is other


def test_an_image_record_becomes_a_glance_image() -> None:
    image = image_of({
        "id": "i1", "name": "img 1.0", "status": "active", "visibility": "public",
        "os_hidden": True, "tags": ["a", "b"], "created_at": "2026-01-01T00:00:00Z",
        "checksum": "c", "os_hash_algo": "sha512", "os_hash_value": "h", "size": 12,
        "os_distro": "centos", "min_disk": 4, "self": "/v2/images/i1", "kernel_id": None,
    })  # fmt: skip
    assert (image.id, image.status, image.hidden, image.tags, image.size) == (
        "i1", "active", True, ("a", "b"), 12
    )  # fmt: skip
    assert (image.checksum, image.hash_algo, image.hash_value) == ("c", "sha512", "h")
    assert image.properties == {"os_distro": "centos"}  # core fields and nulls left out
