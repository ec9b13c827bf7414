"""Every feature of the table lands in the kickstart. What the built images must contain is
written out independently, feature by feature, in test_reference.py."""

from __future__ import annotations

import shlex

import pytest

from release.imaging import kickstart
from release.imaging.features import FEATURES, Feature, Rendering
from release.model.image import ImageDefinition
from release.model.template import Template
from tests.imaging.conftest import ImageFactory

VARIANTS = ("openstack", "cloudstack", "aws", "gce")
# Template values that are not the defaults, so a feature that ignores its field fails.
OVERRIDES = {
    "tso_gso_off": True,
    "relabel": "first-boot",
    "timezone": "Europe/Paris",
    "hostname": "cloudy",
    "lang": "de_DE.UTF-8",
    "keyboard": "de",
    "tuned_profile": "throughput-performance",
    "cloud_user": "cloud",
}


def feature_ids() -> list[str]:
    return [f.name for f in FEATURES]


def assert_in_kickstart(ks: str, part: Rendering, feature: Feature) -> None:
    lines = ks.splitlines()
    for command in part.commands:
        assert command in lines, f"{feature.name}: kickstart lacks {command!r}"
    start = next(i for i, line in enumerate(lines) if line.startswith("%packages"))
    packages = lines[start : lines.index("%end", start)]
    for package in part.packages:
        assert package in packages, f"{feature.name}: %packages lacks {package}"
    bootloader = next(line for line in lines if line.startswith("bootloader "))
    for arg in part.kernel_args:
        assert arg in bootloader.split('"')[1].split(), f"{feature.name}: bootloader lacks {arg}"
    post = ks[ks.index("%post") :]
    for path, content in part.edit.files.items():
        assert f"> {shlex.quote(path)}" in post, f"{feature.name}: %post does not write {path}"
        assert content in post
    for path, set_lines in part.edit.lines.items():
        for line in set_lines:
            assert f"setline {shlex.quote(path)} {shlex.quote(line)}" in post
    for path, target in part.edit.links.items():
        assert f"ln -sfn {shlex.quote(target)} {shlex.quote(path)}" in post
    for pattern in part.edit.removals:
        assert f"rm -f {pattern}" in lines
    for text in part.forbidden_ks:
        assert text not in ks, f"{feature.name}: kickstart must not contain {text!r}"


@pytest.mark.parametrize("el", [6, 7])
@pytest.mark.parametrize("overrides", [{}, OVERRIDES], ids=["defaults", "overrides"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_feature_is_in_the_kickstart(
    make_image: ImageFactory, el: int, overrides: dict[str, object], variant: str
) -> None:
    image = make_image(el, template=overrides)
    ks = kickstart.render_valid(image, variant)
    template = image.template_for(variant)
    for feature in FEATURES:
        assert_in_kickstart(ks, feature.render(template, image.el), feature)


def test_the_stacks_differ_in_login_policy(make_image: ImageFactory) -> None:
    image = make_image(7)
    assert image.template_for("cloudstack").login == "password"
    ks_cloudstack = kickstart.render_valid(image, "cloudstack")
    ks_aws = kickstart.render_valid(image, "aws")
    assert "setline /etc/ssh/sshd_config 'PermitRootLogin yes'" in ks_cloudstack
    assert "setline /etc/ssh/sshd_config 'PermitRootLogin no'" in ks_aws
    assert "setline /etc/ssh/sshd_config 'PasswordAuthentication no'" in ks_aws


def test_el_specific_renderings(make_image: ImageFactory) -> None:
    el6 = kickstart.render_valid(make_image(6), "openstack")
    el7 = kickstart.render_valid(make_image(7), "openstack")
    assert "dracut-modules-growroot" in el6 and "dracut-modules-growroot" not in el7
    assert "net.ifnames=0" in el7 and "net.ifnames=0" not in el6
    assert "rm -f /etc/udev/rules.d/70*" in el6 and "rm -f /etc/udev/rules.d/70*" in el7
    services = "network,sshd,rsyslog,cloud-init-local,cloud-init,cloud-config,cloud-final"
    assert f"services --disabled=kdump --enabled=ntpd,{services}" in el6
    assert f"services --disabled=kdump --enabled=chronyd,{services}" in el7
    assert "vmw_pvscsi" in el6 and "virtio_blk" in el7


def test_every_template_field_has_a_feature() -> None:
    covered = {name for feature in FEATURES for name in feature.fields}
    assert covered == set(Template.model_fields)


def test_a_feature_turned_off_leaves_nothing(make_image: ImageFactory) -> None:
    image: ImageDefinition = make_image(7, template={"ntp": False, "tuned_profile": ""})
    ks = kickstart.render_valid(image, "openstack")
    assert "chronyd" not in ks and "tuned/active_profile" not in ks
    assert "\ntuned\n" not in ks
