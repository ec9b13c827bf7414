"""The cloud template: every feature of the CentOS cloud SIG seed, as data.

A `Template` is fully resolved; `TemplateOverrides` is what an image or a variant may change.
Resolution order: EL defaults < stack defaults < image overrides < variant overrides.
The builders render a resolved template (kickstart, or a root tree); they never guess.
"""

from __future__ import annotations

from typing import Literal

from release.model.base import Model

EL = Literal[6, 7]
Stack = Literal["openstack", "cloudstack", "aws", "gce"]
STACKS: tuple[Stack, ...] = ("openstack", "cloudstack", "aws", "gce")

# Every paravirt driver family in the initramfs, so one image boots on VMware, Hyper-V,
# Xen and KVM (the seed measured the initramfs growing by well under 1%).
PARAVIRT_DRIVERS: tuple[str, ...] = (
    "vmw_pvscsi",
    "vmxnet3",
    "hv_vmbus",
    "hv_utils",
    "hv_storvsc",
    "hv_netvsc",
    "xenfs",
    "xen-netfront",
    "xen-blkfront",
    "virtio_scsi",
    "virtio_net",
    "virtio_console",
    "virtio-rng",
    "virtio_blk",
    "virtio_pci",
)


class Template(Model):
    growroot: bool = True  # single root partition grown to the disk at first boot
    swap: bool = False  # a swap partition would sit after root and stop it from growing
    tuned_profile: str | None = "virtual-guest"
    tso_gso_off: bool = False
    persistent_nic_names: bool = False
    selinux: Literal["enforcing", "permissive", "disabled"] = "enforcing"
    relabel: Literal["build", "first-boot"] = "build"
    persistent_dhclient: bool = True
    paravirt_drivers: tuple[str, ...] = PARAVIRT_DRIVERS
    login: Literal["keys", "password"] = "keys"  # password: root + password (CloudStack)
    cloud_user: str = "centos"
    firewall: bool = False  # the provider filters traffic
    timezone: str = "UTC"
    hostname: str = "centos"  # DHCP overrides it
    lang: str = "en_US.UTF-8"
    keyboard: str = "us"
    ntp: bool = True
    hygiene: bool = True  # no SSH host keys, machine-id, HWADDR/UUID left in the template


class TemplateOverrides(Model):
    growroot: bool | None = None
    swap: bool | None = None
    tuned_profile: str | None = None
    tso_gso_off: bool | None = None
    persistent_nic_names: bool | None = None
    selinux: Literal["enforcing", "permissive", "disabled"] | None = None
    relabel: Literal["build", "first-boot"] | None = None
    persistent_dhclient: bool | None = None
    paravirt_drivers: tuple[str, ...] | None = None
    login: Literal["keys", "password"] | None = None
    cloud_user: str | None = None
    firewall: bool | None = None
    timezone: str | None = None
    hostname: str | None = None
    lang: str | None = None
    keyboard: str | None = None
    ntp: bool | None = None
    hygiene: bool | None = None

    def set_fields(self) -> dict[str, object]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


def el_defaults(el: EL) -> Template:
    """Defaults per EL major. The features are the same; how each is applied differs (EL6:
    dracut-modules-growroot, ntpd, udev persistent-net rules; EL7: cloud-utils-growpart,
    chronyd, net.ifnames=0), which is the builders' business."""
    del el  # same values today; kept as the one place where they would differ
    return Template()


STACK_DEFAULTS: dict[Stack, TemplateOverrides] = {
    "openstack": TemplateOverrides(),
    "cloudstack": TemplateOverrides(login="password"),
    "aws": TemplateOverrides(cloud_user="centos"),
    "gce": TemplateOverrides(),
}


def resolve(el: EL, stack: Stack, *layers: TemplateOverrides) -> Template:
    values: dict[str, object] = el_defaults(el).model_dump()
    for layer in (STACK_DEFAULTS[stack], *layers):
        values.update(layer.set_fields())
    return Template.model_validate(values)


def contradictions(template: Template) -> list[tuple[str, str]]:
    """(field, why) for each pair of features that cannot both hold."""
    found: list[tuple[str, str]] = []
    if template.swap and template.growroot:
        found.append(
            (
                "swap",
                "swap: true contradicts growroot: true (a swap partition after the root partition"
                " stops it from growing); drop swap and add a swap file at boot if needed",
            )
        )
    if template.selinux == "disabled" and template.relabel == "first-boot":
        found.append(
            (
                "relabel",
                "relabel: first-boot does nothing with selinux: disabled; set relabel: build"
                " or enable SELinux",
            )
        )
    return found
