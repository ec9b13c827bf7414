"""The features the CentOS cloud SIG's kickstarts add to the seed's: what the system does
at boot (services, /tmp, text consoles, DHCP retries) and what it must not carry (firmware,
a rescue image, the build's leftovers). Rendered like every feature (see features.py).
"""

from __future__ import annotations

from release.imaging.rendering import Rendering
from release.imaging.rootfs import TreeEdit
from release.model.template import EL, Template


def dhclient(t: Template, el: EL) -> Rendering:
    # The SIG's answer to instances that lost their lease during a DHCP server's outage
    # (CentOS bug 6866): keep trying for 5 minutes, then every minute.
    lines = {"/etc/dhcp/dhclient.conf": ("timeout 300;", "retry 60;")}
    return Rendering(edit=TreeEdit(lines=lines))


# The reference's services (network, sshd, rsyslog; NTP is the ntp feature's) and
# cloud-init's four stages; kdump reserves memory an instance needs and has nowhere to dump.
SERVICES_ON = (
    "network",
    "sshd",
    "rsyslog",
    "cloud-init-local",
    "cloud-init",
    "cloud-config",
    "cloud-final",
)
SERVICES_OFF = ("kdump",)


def services(t: Template, el: EL) -> Rendering:
    return Rendering(enable=SERVICES_ON, disable=SERVICES_OFF)


def tmp_on_disk(t: Template, el: EL) -> Rendering:
    # EL7's systemd can put /tmp on tmpfs: memory is scarce on small instances (the SIG).
    if el == 6:
        return Rendering()
    return Rendering(edit=TreeEdit(links={"/etc/systemd/system/tmp.mount": "/dev/null"}))


def no_rescue(t: Template, el: EL) -> Rendering:
    # EL7's dracut would make a second, host-only "rescue" kernel and initramfs in /boot.
    return Rendering(packages=("dracut-norescue",)) if el == 7 else Rendering()


def no_firmware(t: Template, el: EL) -> Rendering:
    # Firmware is for hardware a VM does not have. The kernel requires it (EL6
    # kernel-firmware, EL7 linux-firmware), so excluding it fails the install: it is
    # erased after the install, as the SIG's kickstart does.
    return Rendering(remove_packages=("*-firmware",))


# What installers, yum/dnf and the build leave behind (the SIG's kickstart removes the same);
# a folder named with a trailing "/" goes only when empty (dnf's /etc/dnf on an EL6/EL7 tree).
LEFTOVERS = (
    "/var/log/yum.log",
    "/var/log/dnf*",
    "/var/log/hawkey.log",
    "/var/log/anaconda*",
    "/var/log/setfiles.log",
    "/var/cache/yum/*",
    "/var/cache/dnf",
    "/var/lib/yum/*",
    "/var/lib/dnf",
    "/etc/dnf/modules.d",
    "/etc/dnf/",
    "/var/lib/rpm/*-wal",
    "/var/lib/rpm/*-shm",
    "/root/anac*",
    "/root/original-ks.cfg",
    "/root/install.log*",
    "/tmp/*",  # noqa: S108 - the image's /tmp, emptied
    "/tmp/.[!.]*",  # noqa: S108
    "/var/tmp/*",  # noqa: S108
)


def leftovers(t: Template, el: EL) -> Rendering:
    return Rendering(cleanup=LEFTOVERS)


def text_console(t: Template, el: EL) -> Rendering:
    # A cloud instance boots to a text console with one getty: nobody logs in on tty2-6.
    if el == 6:
        return Rendering(
            edit=TreeEdit(lines={"/etc/sysconfig/init": ("ACTIVE_CONSOLES=/dev/tty1",)})
        )
    return Rendering(
        edit=TreeEdit(
            links={"/etc/systemd/system/default.target": "/lib/systemd/system/multi-user.target"},
            lines={"/etc/systemd/logind.conf": ("NAutoVTs=0",)},
        )
    )
