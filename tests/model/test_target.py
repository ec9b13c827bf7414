"""Publish targets: the `type` picks the kind, each kind refuses what it does not know, and the
registries' cross-field rules."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from release.model.target import (
    ACCEPTS,
    DEFAULT_TARGET,
    DEFAULT_TARGET_NAME,
    AzureImageTarget,
    CloudStackTemplateTarget,
    FilesystemTarget,
    OpenStackGlanceTarget,
    S3Target,
    Target,
)
from tests.model.kit import only, refusal, shipped

TARGET: TypeAdapter[Any] = TypeAdapter(Target)

CLOUDSTACK = {
    "type": "cloudstack-template",
    "endpoint": "https://cloud.example.org/client/api/",
    "mirror": "local",
    "public_url": "https://mirror.example.org/images//",
    "zones": ["z1"],
}
AZURE = {
    "type": "azure-image",
    "account_url": "https://st.blob.core.windows.net/",
    "container": "vhds",
    "subscription_id": "sub",
    "resource_group": "rg",
    "location": "westeurope",
}


def test_the_type_picks_the_kind() -> None:
    s3 = TARGET.validate_python({"type": "s3", "bucket": "b"})
    assert isinstance(s3, S3Target)
    assert (s3.bucket, s3.prefix, s3.region, s3.endpoint_url) == ("b", "", None, None)
    fs = TARGET.validate_python({"type": "filesystem", "path": "/srv/mirror"})
    assert fs == FilesystemTarget(type="filesystem", path="/srv/mirror")


def test_an_unknown_or_missing_type() -> None:
    errors = refusal(TARGET, {"type": "ftp", "url": "ftp://x"})
    assert [(e["loc"], e["type"]) for e in errors] == [((), "union_tag_invalid")]
    assert "'ftp'" in errors[0]["msg"]
    errors = refusal(TARGET, {"bucket": "b"})
    assert [(e["loc"], e["type"]) for e in errors] == [((), "union_tag_not_found")]


def test_errors_name_the_kind_and_the_field() -> None:
    assert only(TARGET, {"type": "s3"}) == (("s3", "bucket"), "Field required")
    errors = refusal(TARGET, {"type": "gcs", "bucket": "b", "bukcet": "b"})
    assert [(e["loc"], e["type"]) for e in errors] == [(("gcs", "bukcet"), "extra_forbidden")]
    ami = {"type": "aws-ami", "regions": [], "bucket": "b"}
    assert only(TARGET, ami)[0] == ("aws-ami", "regions")
    rsync = {"type": "rsync", "url": "host:/srv", "ssh_port": "twenty-two"}
    assert only(TARGET, rsync)[0] == ("rsync", "ssh_port")


def test_glance_defaults() -> None:
    glance = TARGET.validate_python({"type": "openstack-glance"})
    assert isinstance(glance, OpenStackGlanceTarget)
    assert (glance.cloud, glance.regions, glance.visibility) == (None, (), "private")
    assert (glance.import_method, glance.rollback, glance.hw_vif_model) == (
        "auto",
        "hide",
        "virtio",
    )
    assert (glance.min_ram, glance.properties, glance.share_with) == (None, {}, ())


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"visibility": "shared"},
            "visibility: shared needs share_with (the project ids to share with)",
        ),
        ({"share_with": ["p1"]}, "share_with is only for visibility: shared"),
        (
            {"import_method": "web-download"},
            "import_method: web-download needs mirror_url (where Glance fetches)",
        ),
    ],
)
def test_glance_rules_across_fields(fields: dict[str, object], message: str) -> None:
    assert only(TARGET, {"type": "openstack-glance", **fields}) == (
        ("openstack-glance",),
        f"Value error, {message}",
    )


def test_glance_consistent_settings_pass() -> None:
    shared = {"type": "openstack-glance", "visibility": "shared", "share_with": ["p1", "p2"]}
    assert TARGET.validate_python(shared).share_with == ("p1", "p2")
    web = {"type": "openstack-glance", "import_method": "web-download", "mirror_url": "https://m"}
    assert TARGET.validate_python(web).mirror_url == "https://m"
    assert only(TARGET, {"type": "openstack-glance", "min_ram": -1})[0] == (
        "openstack-glance",
        "min_ram",
    )
    assert only(TARGET, {"type": "openstack-glance", "visibility": "everyone"})[0] == (
        "openstack-glance",
        "visibility",
    )


def test_cloudstack_urls_lose_their_trailing_slashes_and_keep_defaults() -> None:
    cs = TARGET.validate_python(CLOUDSTACK)
    assert isinstance(cs, CloudStackTemplateTarget)
    assert cs.endpoint == "https://cloud.example.org/client/api"
    assert cs.public_url == "https://mirror.example.org/images"
    assert cs.os_types == {6: "CentOS 6.5 (64-bit)", 7: "CentOS 7"}
    assert (cs.hypervisor, cs.public, cs.featured, cs.wait_seconds) == ("KVM", True, False, 7200)
    from_yaml = TARGET.validate_python({**CLOUDSTACK, "os_types": {"7": "Other"}})
    assert from_yaml.os_types == {7: "Other"}  # YAML keys may come as text


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"endpoint": "cloud.example.org/client/api"}, ("cloudstack-template", "endpoint")),
        ({"public_url": "/srv/mirror"}, ("cloudstack-template", "public_url")),
        ({"zones": []}, ("cloudstack-template", "zones")),
        ({"mirror": "../local"}, ("cloudstack-template", "mirror")),
        ({"wait_seconds": 0}, ("cloudstack-template", "wait_seconds")),
    ],
)
def test_cloudstack_refusals(fields: dict[str, object], loc: tuple[str, ...]) -> None:
    assert only(TARGET, {**CLOUDSTACK, **fields})[0] == loc


def test_cloudstack_url_message() -> None:
    assert only(TARGET, {**CLOUDSTACK, "public_url": "ftp://m"})[1] == (
        "Value error, 'ftp://m' is not an http(s):// URL"
    )


def test_azure() -> None:
    azure = TARGET.validate_python(AZURE)
    assert isinstance(azure, AzureImageTarget)
    assert azure.account_url == "https://st.blob.core.windows.net"
    assert (azure.variant, azure.gallery, azure.prefix) == (None, None, "")
    gallery = {"name": "g", "image": "centos", "storage_account_id": "/subscriptions/x"}
    with_gallery = TARGET.validate_python({**AZURE, "gallery": gallery})
    assert isinstance(with_gallery, AzureImageTarget) and with_gallery.gallery is not None
    assert with_gallery.gallery.regions == ()
    assert only(TARGET, {**AZURE, "account_url": "st.blob.core.windows.net"})[0] == (
        "azure-image",
        "account_url",
    )
    assert only(TARGET, {**AZURE, "variant": "a b"})[0] == ("azure-image", "variant")
    errors = refusal(TARGET, {**AZURE, "gallery": {**gallery, "sku": "x"}})
    assert [(e["loc"], e["type"]) for e in errors] == [
        (("azure-image", "gallery", "sku"), "extra_forbidden")
    ]


def test_what_each_kind_accepts() -> None:
    assert set(ACCEPTS) == {
        "filesystem",
        "rsync",
        "s3",
        "gcs",
        "aws-ami",
        "gce-image",
        "openstack-glance",
        "cloudstack-template",
        "azure-image",
    }
    every = ("qcow2", "raw", "vhd", "ova", "gce")
    assert [kind for kind, formats in ACCEPTS.items() if formats == every] == [
        "filesystem",
        "rsync",
        "s3",
        "gcs",
    ]
    assert ACCEPTS["aws-ami"] == ("vhd", "raw")
    assert ACCEPTS["gce-image"] == ("gce",)
    assert ACCEPTS["openstack-glance"] == ("qcow2", "raw")
    assert ACCEPTS["cloudstack-template"] == ("qcow2",)
    assert ACCEPTS["azure-image"] == ("vhd",)


def test_the_default_target_is_the_shipped_local_mirror() -> None:
    assert DEFAULT_TARGET_NAME == "local"
    assert TARGET.validate_python(shipped("targets/local.yaml")) == DEFAULT_TARGET
    assert FilesystemTarget(type="filesystem", path="mirror") == DEFAULT_TARGET


def test_a_target_is_frozen() -> None:
    with pytest.raises(ValidationError, match="frozen"):
        DEFAULT_TARGET.path = "/elsewhere"  # type: ignore[misc]
