"""Fixtures of the build tests: the EL6-like and EL7-like package repos (built once per
session) and small image definitions that use them."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from release.model.image import ImageDefinition
from tests.fixtures.rpmrepo import build_repo, make_key, signed_copy

ImageFactory = Callable[..., ImageDefinition]

# The fixture repos carry the packages every feature of the template needs.
BASE_PACKAGES = ("filesystem", "busybox", "kernel", "openssh-server", "initscripts", "cloud-init")


@pytest.fixture(scope="session")
def el_repos(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    return {el: build_repo(tmp_path_factory.mktemp(f"el{el}-repo"), f".el{el}") for el in (6, 7)}


@dataclass(frozen=True)
class SignedRepo:
    repo: Path
    key: Path  # the armored public key that signed it
    fingerprint: str


@pytest.fixture(scope="session")
def signed_repo(
    el_repos: dict[int, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SignedRepo]:
    """The EL7 fixture packages, signed with a throwaway RSA key."""
    base = tmp_path_factory.mktemp("signed")
    home = Path(tempfile.mkdtemp(dir="/tmp", prefix="gh-"))  # short: gpg-agent's socket path
    try:
        uid = "Fixture Signer <signer@example.invalid>"
        public, fingerprint = make_key(home, uid)
        repo = signed_copy(el_repos[7], base / "repo", home, uid)
        (base / "key.asc").write_bytes(public)
        yield SignedRepo(repo, base / "key.asc", fingerprint)
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)
        shutil.rmtree(home, ignore_errors=True)


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
