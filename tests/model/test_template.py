"""The cloud template: its defaults, the order overrides apply in, and the contradictions."""

from __future__ import annotations

import pytest

from release.model.template import Template, TemplateOverrides, contradictions, resolve
from tests.model.kit import only


def test_the_defaults() -> None:
    template = resolve(7, "openstack")
    assert (template.growroot, template.swap, template.tso_gso_off) == (True, False, False)
    assert (template.selinux, template.relabel) == ("enforcing", "build")
    assert (template.login, template.cloud_user, template.firewall) == ("keys", "centos", False)
    assert (template.timezone, template.lang, template.keyboard) == ("UTC", "en_US.UTF-8", "us")
    assert (template.hostname, template.tuned_profile) == ("centos", "virtual-guest")
    assert (template.ntp, template.hygiene, template.persistent_dhclient) == (True, True, True)
    assert template.persistent_nic_names is False
    assert len(template.paravirt_drivers) == 15
    assert {"vmw_pvscsi", "hv_netvsc", "xen-blkfront", "virtio_blk"} <= set(
        template.paravirt_drivers
    )
    assert resolve(6, "openstack") == template  # the EL majors differ only in how, not what


def test_stacks() -> None:
    assert resolve(7, "cloudstack").login == "password"
    assert resolve(6, "cloudstack").login == "password"
    assert resolve(7, "aws").login == "keys" and resolve(7, "gce").login == "keys"


def test_later_layers_win_and_unset_fields_do_not_count() -> None:
    image = TemplateOverrides(login="keys", timezone="Europe/Paris", swap=False)
    variant = TemplateOverrides(timezone="Asia/Tokyo")
    resolved = resolve(7, "cloudstack", image, variant)
    assert resolved.login == "keys"  # the image's override beats the stack's default
    assert resolved.timezone == "Asia/Tokyo"  # the variant's beats the image's
    assert resolved.swap is False
    assert resolve(7, "cloudstack", image, TemplateOverrides()).timezone == "Europe/Paris"


def test_set_fields_keeps_false_and_drops_none() -> None:
    overrides = TemplateOverrides(swap=False, ntp=None, timezone="UTC")
    assert overrides.set_fields() == {"swap": False, "timezone": "UTC"}
    assert TemplateOverrides().set_fields() == {}


def test_contradictions() -> None:
    assert contradictions(Template()) == []
    swap = contradictions(Template(swap=True))
    assert [field for field, _ in swap] == ["swap"]
    assert swap[0][1].startswith("swap: true contradicts growroot: true")
    assert contradictions(Template(swap=True, growroot=False)) == []
    relabel = contradictions(Template(selinux="disabled", relabel="first-boot"))
    assert [field for field, _ in relabel] == ["relabel"]
    assert relabel[0][1].startswith("relabel: first-boot does nothing with selinux: disabled")
    both = Template(swap=True, selinux="disabled", relabel="first-boot")
    assert [field for field, _ in contradictions(both)] == ["swap", "relabel"]
    assert contradictions(Template(selinux="permissive", relabel="first-boot")) == []


@pytest.mark.parametrize(
    ("data", "loc"),
    [
        ({"selinux": "off"}, ("selinux",)),
        ({"relabel": "never"}, ("relabel",)),
        ({"login": "both"}, ("login",)),
        ({"growroot": "sometimes"}, ("growroot",)),
        ({"paravirt_drivers": "virtio_blk"}, ("paravirt_drivers",)),
        ({"swapp": True}, ("swapp",)),
    ],
)
def test_overrides_are_checked(data: dict[str, object], loc: tuple[str, ...]) -> None:
    assert only(TemplateOverrides, data)[0] == loc
    assert only(Template, data)[0] == loc
