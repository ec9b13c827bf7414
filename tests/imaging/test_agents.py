"""A stack's guest agent needs its own repository: `release check` and `release build` say
so, naming the field, before dnf would fail to find the package."""

from __future__ import annotations

from pathlib import Path

import pytest

from release.errors import ExitCode, InvalidInput
from release.imaging.builder import build
from release.model.agents import missing_repos
from tests.imaging.conftest import ImageFactory

GOOGLE_EL7 = "https://packages.cloud.google.com/yum/repos/google-compute-engine-el7-x86_64-stable"


def test_an_agent_with_its_repo_passes(make_image: ImageFactory) -> None:
    google = {"name": "google", "baseurl": GOOGLE_EL7, "gpgcheck": False}
    image = make_image(
        7, variants={"gce": {"sources": [google], "packages": ["google-guest-agent"]}}
    )
    assert missing_repos(image, "gce") == []


def test_an_agent_without_its_repo_is_named(make_image: ImageFactory) -> None:
    image = make_image(7, variants={"gce": {"packages": ["tuned", "google-osconfig-agent"]}})
    [missing] = missing_repos(image, "gce")
    assert (missing.package, missing.index, missing.at_variant) == (
        "google-osconfig-agent",
        1,
        True,
    )
    assert "does not list" in missing.message and GOOGLE_EL7 in missing.hint


def test_an_image_wide_agent_is_named_at_the_image(make_image: ImageFactory) -> None:
    image = make_image(7, packages=["filesystem", "google-compute-engine"])
    [missing] = missing_repos(image, "aws")
    assert (missing.index, missing.at_variant) == (1, False)
    assert "under sources" in missing.hint


def test_el6_has_no_google_repo_even_when_one_is_listed(make_image: ImageFactory) -> None:
    google = {"name": "google", "baseurl": GOOGLE_EL7, "gpgcheck": False}
    gce = {"sources": [google], "packages": ["google-compute-engine"]}
    [missing] = missing_repos(make_image(6, variants={"gce": gce}), "gce")
    assert "no EL6 packages" in missing.message


def test_build_refuses_before_installing(make_image: ImageFactory, tmp_path: Path) -> None:
    image = make_image(6, variants={"gce": {"packages": ["google-compute-engine"]}})
    with pytest.raises(InvalidInput, match="google-compute-engine comes from a repository") as e:
        build(image, "gce", tmp_path / "out", tmp_path / "cache")
    assert e.value.exit_code == ExitCode.INVALID
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.raw"))
