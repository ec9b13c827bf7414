"""Image definitions: a minimal valid one, its defaults, what each variant gets, and the
refusals, each at its field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from release.model.image import ImageDefinition, PackageSource
from tests.model.kit import ROOT, only, refusal, shipped

BASE = {"name": "base", "baseurl": "https://vault.example/7/os/x86_64/", "gpgcheck": False}


def _image(**fields: Any) -> dict[str, Any]:
    return {
        "name": "fx",
        "version": "1.0",
        "el": 7,
        "sources": [BASE],
        "packages": ["@core"],
        "disk": {"size": "2GiB"},
        "variants": {"openstack": {}},
        **fields,
    }


def test_a_minimal_image_and_its_defaults() -> None:
    image = ImageDefinition.model_validate(_image())
    assert image.disk.size == 2 * 1024**3 and image.disk.filesystem == "ext4"
    assert image.arch == "x86_64"
    assert image.formats == ("qcow2", "raw", "vhd", "ova", "gce")
    assert (image.builder, image.installer) == ("installroot", "qemu")
    assert (image.product, image.install_tree, image.koji_target) == (None, None, None)
    assert (image.hardware.cpus, image.hardware.memory) == (1, 1024**3)
    assert image.raw_xz is False and image.exclude == ()


def test_qcow2_compat_follows_the_el_unless_given() -> None:
    assert ImageDefinition.model_validate(_image()).compat == "1.1"
    assert ImageDefinition.model_validate(_image(el=6)).compat == "0.10"
    assert ImageDefinition.model_validate(_image(el=6, qcow2_compat="1.1")).compat == "1.1"


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ("63MiB", "the disk must be at least 64MiB"),
        (64 * 1024**2 + 512, "the disk size must be a whole number of MiB"),
        ("8GB", "'8GB' is a decimal unit: write 8GiB"),
        ("big", "'big' is not a size"),
    ],
)
def test_disk_sizes(size: object, message: str) -> None:
    loc, got = only(ImageDefinition, _image(disk={"size": size}))
    assert loc == ("disk", "size") and got.startswith(f"Value error, {message}")


def test_the_smallest_disk() -> None:
    image = ImageDefinition.model_validate(_image(disk={"size": "64MiB"}))
    assert image.disk.size == 64 * 1024**2


def test_package_sources() -> None:
    signed = PackageSource.model_validate(
        {
            "name": "base",
            "baseurl": "file:///srv/repo",
            "gpgkey": "https://example.org/key",
            "gpgkey_fingerprint": "6341 ab27 53d7 8a78 a7c2  7bb1 24c6 a8a7 f4a8 0eb5",
        }
    )
    assert signed.gpgkey_fingerprint == "6341AB2753D78A78A7C27BB124C6A8A7F4A80EB5"
    assert signed.gpgcheck is True
    unsigned = {"name": "base", "baseurl": "https://example.org/repo"}
    assert only(ImageDefinition, _image(sources=[BASE, unsigned])) == (
        ("sources", 1),
        "Value error, gpgcheck is on but no gpgkey is given: name the key that signs these"
        " packages (or set gpgcheck: false for an unsigned test repo)",
    )
    for url in ("ftp://example.org/repo", "file://host/repo", "/srv/repo"):
        loc, message = only(ImageDefinition, _image(sources=[BASE, {**BASE, "baseurl": url}]))
        assert loc == ("sources", 1, "baseurl")
        assert message == f"Value error, {url!r} is not an http(s):// or file:/// URL"


@pytest.mark.parametrize("field", ["sources", "packages", "variants"])
def test_lists_that_may_not_be_empty(field: str) -> None:
    empty: object = {} if field == "variants" else []
    errors = refusal(ImageDefinition, _image(**{field: empty}))
    assert [(e["loc"], e["type"]) for e in errors] == [((field,), "too_short")]


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"name": "fx/../etc"}, ("name",)),
        ({"version": "one"}, ("version",)),
        ({"el": 8}, ("el",)),
        ({"arch": "ppc64le"}, ("arch",)),
        ({"formats": ["qcow2", "vmdk"]}, ("formats", 1)),
        ({"hardware": {"cpus": 0}}, ("hardware", "cpus")),
        ({"hardware": {"cpus": 65}}, ("hardware", "cpus")),
        ({"variants": {"open stack": {}}}, ("variants", "open stack", "[key]")),
        ({"variants": {"openstack": {"stack": "azure"}}}, ("variants", "openstack", "stack")),
        ({"template": {"selinx": "enforcing"}}, ("template", "selinx")),
        ({"pakages": ["@core"]}, ("pakages",)),
        ({"install_tree": "dvd.iso"}, ("install_tree",)),
        ({"installer": "virt-install"}, ("installer",)),
    ],
)
def test_refusals_name_their_field(fields: dict[str, object], loc: tuple[object, ...]) -> None:
    assert only(ImageDefinition, _image(**fields))[0] == loc


def test_messages_across_fields() -> None:
    assert only(ImageDefinition, _image(el=6, arch="aarch64")) == (
        (),
        "Value error, EL6 images are x86_64 only, not aarch64",
    )
    assert only(ImageDefinition, _image(variants={"azure": {}})) == (
        (),
        "Value error, variant 'azure' is not a cloud stack name: add `stack:` (one of"
        " openstack, cloudstack, aws, gce)",
    )
    koji = _image(builder="kickstart", installer="koji")
    assert only(ImageDefinition, koji) == (
        (),
        "Value error, installer: koji needs koji_target (the koji build target to use)",
    )
    assert ImageDefinition.model_validate({**koji, "koji_target": "el7-cloud"}).koji_target == (
        "el7-cloud"
    )


@pytest.mark.parametrize("tree", ["/srv/CentOS-7-x86_64-DVD.iso", "https://m/os/", "file:///t"])
def test_install_trees(tree: str) -> None:
    assert ImageDefinition.model_validate(_image(install_tree=tree)).install_tree == tree


def test_what_each_variant_gets() -> None:
    extra = {"name": "extra", "baseurl": "https://example.org/extra", "gpgcheck": False}
    image = ImageDefinition.model_validate(
        _image(
            packages=["@core", "tuned"],
            exclude=["plymouth"],
            formats=["qcow2", "raw"],
            template={"cloud_user": "admin"},
            variants={
                "openstack": {},
                "azure": {
                    "stack": "aws",
                    "sources": [extra],
                    "packages": ["WALinuxAgent"],
                    "exclude": ["NetworkManager*"],
                    "formats": ["vhd"],
                    "template": {"timezone": "Europe/Paris"},
                },
                "cloudstack": {},
            },
        )
    )
    assert image.stack_of("azure") == "aws" and image.stack_of("openstack") == "openstack"
    assert image.formats_for("openstack") == ("qcow2", "raw")
    assert image.formats_for("azure") == ("vhd",)
    assert [s.name for s in image.sources_for("azure")] == ["base", "extra"]
    assert [s.name for s in image.sources_for("openstack")] == ["base"]
    assert image.packages_for("azure") == ("@core", "tuned", "WALinuxAgent")
    assert image.excludes_for("azure") == ("plymouth", "NetworkManager*")
    azure, cloudstack = image.template_for("azure"), image.template_for("cloudstack")
    assert (azure.cloud_user, azure.timezone, azure.login) == ("admin", "Europe/Paris", "keys")
    assert (cloudstack.cloud_user, cloudstack.timezone) == ("admin", "UTC")
    assert cloudstack.login == "password"  # the stack's default, not overridden here
    with pytest.raises(KeyError):
        image.stack_of("gce")


def test_an_image_is_frozen() -> None:
    image = ImageDefinition.model_validate(_image())
    with pytest.raises(ValidationError, match="frozen"):
        image.version = "2.0"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        image.disk.size = 1  # type: ignore[misc]


@pytest.mark.parametrize("path", sorted((ROOT / "images").glob("*.yaml")), ids=lambda p: p.name)
def test_the_shipped_images_validate(path: Path) -> None:
    image = ImageDefinition.model_validate(shipped(f"images/{path.name}"))
    assert image.name == path.stem
    assert image.disk.size == 8 * 1024**3
    assert set(image.variants) == {"openstack", "cloudstack", "aws", "gce"}
    assert image.formats == ("qcow2", "raw", "vhd", "ova", "gce")
    if image.el == 7:
        assert {s.gpgkey_fingerprint for s in image.sources} == {
            "6341AB2753D78A78A7C27BB124C6A8A7F4A80EB5"
        }
