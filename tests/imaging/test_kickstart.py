"""Kickstart rendering: golden files for the shipped EL6 and EL7 definitions, validation
errors that name the line, and the %post script producing the same tree as the builder."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from release.config.check import load_checked
from release.config.loader import ConfigRepo
from release.config.source import open_source
from release.errors import ExitCode, InvalidInput
from release.imaging import kickstart, rootfs
from release.imaging.features import render_all
from release.imaging.installroot import install_tree
from release.integrity.keyinfo import read_key_bytes
from tests.imaging.conftest import ImageFactory

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
# RELEASE_UPDATE_GOLDEN=1 rewrites the golden files (review the diff before committing).
UPDATE = os.environ.get("RELEASE_UPDATE_GOLDEN") == "1"


def shipped() -> ConfigRepo:
    with open_source(str(ROOT)) as source:
        config = load_checked(source, read_key_bytes)
    assert not config.problems, config.problems
    return config


@pytest.mark.parametrize(
    ("image", "variant"),
    [
        ("centos-6-genericcloud", "openstack"),
        ("centos-6-genericcloud", "cloudstack"),
        ("centos-7-genericcloud", "openstack"),
        ("centos-7-genericcloud", "gce"),
    ],
)
def test_golden_kickstarts(image: str, variant: str) -> None:
    text = kickstart.render_valid(shipped().image(image), variant)
    golden = GOLDEN / f"{image}-{variant}.ks"
    if UPDATE:
        golden.write_text(text)
    assert text == golden.read_text()


def test_every_shipped_variant_validates() -> None:
    config = shipped()
    for name in config.images:
        image = config.image(name)
        for variant in image.variants:
            kickstart.render_valid(image, variant)


def test_validation_error_names_the_line() -> None:
    text = "text\nskipx\nrootpw --lock\n"
    kickstart.validate(text, 7, "x/y")  # RHEL7 allows a locked root without a password
    with pytest.raises(kickstart.KickstartInvalid) as caught:
        kickstart.validate(text, 6, "x/y")
    assert caught.value.lineno == 3
    assert "line 3: 'rootpw --lock'" in str(caught.value)
    assert "not valid RHEL6" in str(caught.value)
    assert caught.value.exit_code == ExitCode.INVALID


def test_a_bad_template_value_fails_validation(make_image: ImageFactory) -> None:
    image = make_image(7, template={"lang": "en_US.UTF-8 --bogus"})
    with pytest.raises(kickstart.KickstartInvalid, match=r"line \d+: 'lang en_US.UTF-8 --bogus'"):
        kickstart.render_valid(image, "openstack")


def test_unknown_variant_is_invalid_input(make_image: ImageFactory) -> None:
    with pytest.raises(InvalidInput, match="has no variant 'azure'"):
        kickstart.render(make_image(7), "azure")


@pytest.mark.parametrize("el", [6, 7])
def test_post_script_and_builder_make_the_same_tree(
    make_image: ImageFactory, tmp_path: Path, el: int
) -> None:
    """The %post shell (run chrooted, with the image's busybox) and `apply_edit` agree."""
    image = make_image(el, template={"tso_gso_off": True})
    part = render_all(image.template_for("cloudstack"), image.el)
    by_python = tmp_path / "python"
    install_tree(
        image,
        "cloudstack",
        by_python,
        ["filesystem", "busybox", "openssh-server", "initscripts"],
        tmp_path / "home",
    )
    by_shell = tmp_path / "shell"
    shutil.copytree(by_python, by_shell, symlinks=True)
    rootfs.apply_edit(by_python, part.edit)
    script = kickstart.post_script(part.edit)
    subprocess.run(["chroot", str(by_shell), "/bin/sh", "-c", script], check=True)
    assert _snapshot(by_python) == _snapshot(by_shell)


def _snapshot(root: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if rel.startswith("var/lib/rpm"):
            continue
        if path.is_symlink():
            found[rel] = "-> " + str(path.readlink())
        elif path.is_file():
            found[rel] = path.read_text(errors="replace")
    return found
