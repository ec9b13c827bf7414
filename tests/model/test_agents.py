"""The guest agents without an EL repository: what counts as listing their repository, and
where the hint points. tests/imaging/test_agents.py has the basic cases and the build's refusal."""

from __future__ import annotations

from typing import Any

from release.model.agents import missing_repos
from release.model.image import ImageDefinition

GOOGLE_EL7 = "https://packages.cloud.google.com/yum/repos/google-compute-engine-el7-x86_64-stable"
BASE = {"name": "base", "baseurl": "https://vault.example/os/", "gpgcheck": False}


def _image(el: int, gce: dict[str, Any], packages: tuple[str, ...] = ("@core",)) -> ImageDefinition:
    return ImageDefinition.model_validate(
        {
            "name": "fx",
            "version": "1.0",
            "el": el,
            "sources": [BASE],
            "packages": list(packages),
            "disk": {"size": "2GiB"},
            "variants": {"gce": gce, "aws": {}},
        }
    )


def test_a_mirror_of_the_repository_counts() -> None:
    mirror = {
        "name": "google",
        "baseurl": "https://mirror.example/google-compute-engine-el7-x86_64-stable/",
        "gpgcheck": False,
    }
    image = _image(7, {"sources": [mirror], "packages": ["google-guest-agent"]})
    assert missing_repos(image, "gce") == []


def test_the_el7_repository_is_not_the_el6_one() -> None:
    google8 = {"name": "google", "baseurl": GOOGLE_EL7.replace("el7", "el8"), "gpgcheck": False}
    image = _image(7, {"sources": [google8], "packages": ["google-compute-engine"]})
    [missing] = missing_repos(image, "gce")
    assert missing.message == (
        "variant gce: google-compute-engine comes from a repository the variant does not list"
        " (no EL repository has it), so dnf would not find it"
    )
    assert missing.hint == f"add its repository ({GOOGLE_EL7}, or a mirror of it) under" + (
        " variants.gce.sources"
    )


def test_every_agent_is_reported_in_order_image_first() -> None:
    image = _image(
        7,
        {"packages": ["tuned", "google-osconfig-agent"]},
        packages=("@core", "google-guest-agent", "cloud-init"),
    )
    found = [(m.variant, m.package, m.index, m.at_variant) for m in missing_repos(image, "gce")]
    assert found == [
        ("gce", "google-guest-agent", 1, False),
        ("gce", "google-osconfig-agent", 1, True),
    ]
    # the other variant inherits only the image's packages
    assert [(m.variant, m.package) for m in missing_repos(image, "aws")] == [
        ("aws", "google-guest-agent")
    ]


def test_el6_hint_names_where_to_list_a_repository_of_ones_own() -> None:
    image = _image(6, {"packages": ["python-google-compute-engine"]})
    [missing] = missing_repos(image, "gce")
    assert missing.message == (
        "variant gce: python-google-compute-engine comes from a repository that has no EL6"
        " packages, so this variant cannot be built"
    )
    assert missing.hint == (
        "drop python-google-compute-engine from the packages (cloud-init reads the stack's"
        " metadata itself), or list a repository of your own that has an EL6 build under"
        " variants.gce.sources"
    )


def test_other_packages_need_nothing() -> None:
    image = _image(7, {"packages": ["cloud-init", "google-cloud-sdk"]})
    assert missing_repos(image, "gce") == []
