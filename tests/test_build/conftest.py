"""Fixtures of the build tests: the EL6-like and EL7-like package repos (built once per
session) and small image definitions that use them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from release.model.image import ImageDefinition
from tests.fixtures.rpmrepo import build_repo

ImageFactory = Callable[..., ImageDefinition]

# The fixture repos carry the packages every feature of the template needs.
BASE_PACKAGES = ("filesystem", "busybox", "kernel", "openssh-server", "initscripts", "cloud-init")


@pytest.fixture(scope="session")
def el_repos(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    return {el: build_repo(tmp_path_factory.mktemp(f"el{el}-repo"), f".el{el}") for el in (6, 7)}


def definition(repo: Path, el: int, **changes: Any) -> ImageDefinition:
    data: dict[str, Any] = {
        "name": f"fixture-el{el}",
        "version": "1.0.0",
        "el": el,
        "sources": [{"name": "local", "baseurl": f"file://{repo}", "gpgcheck": False}],
        "packages": [*BASE_PACKAGES, "policycoreutils"],
        "disk": {"size": "64MiB"},
        "variants": {"openstack": {}, "cloudstack": {}, "aws": {}, "gce": {}},
    }
    data.update(changes)
    return ImageDefinition.model_validate(data)


@pytest.fixture
def make_image(el_repos: dict[int, Path]) -> ImageFactory:
    def make(el: int = 7, **changes: Any) -> ImageDefinition:
        return definition(el_repos[el], el, **changes)

    return make
