"""The ONE table of cloud-template features: what each puts in a kickstart and in a root tree.

Each `Feature` reads the resolved `Template` and the EL major and returns a `Rendering`:
kickstart commands, packages, kernel arguments, a `TreeEdit`, services, packages to erase and
leftovers to remove. The kickstart renderer and the installroot builder both consume this
table, so a feature cannot land in one rendering and be forgotten in the other. The seed's
features are here, the ones the SIG's kickstarts add in `system_features.py`; what the built
images must hold is written out independently in tests/imaging/test_reference.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from release.imaging import system_features as system
from release.imaging.rendering import Rendering as Rendering  # re-exported: builders import it here
from release.imaging.rootfs import TreeEdit
from release.model.template import EL, Template


@dataclass(frozen=True)
class Feature:
    name: str
    fields: tuple[str, ...]  # the Template fields it reads
    render: Callable[[Template, EL], Rendering]


def _growroot(t: Template, el: EL) -> Rendering:
    if not t.growroot:
        return Rendering(
            edit=TreeEdit(
                files={"/etc/cloud/cloud.cfg.d/10_growpart.cfg": "growpart:\n  mode: off\n"}
            )
        )
    # EL6's 2.6.32 cannot resize a mounted partition: growroot runs in the initramfs.
    packages = (
        ("dracut-modules-growroot", "cloud-utils-growpart")
        if el == 6
        else ("cloud-utils-growpart",)
    )
    return Rendering(
        packages=packages,
        edit=TreeEdit(
            files={
                "/etc/cloud/cloud.cfg.d/10_growpart.cfg": (
                    "growpart:\n  mode: auto\n  devices: ['/']\nresize_rootfs: true\n"
                )
            }
        ),
    )


def _swap(t: Template, el: EL) -> Rendering:
    if t.swap:
        return Rendering(commands=("part swap --size=1024",))
    return Rendering(forbidden_ks=("part swap",), forbidden_tree={"/etc/fstab": "swap"})


def _tuned(t: Template, el: EL) -> Rendering:
    if not t.tuned_profile:  # None, or "" (how an image override turns tuned off)
        return Rendering()
    # EL6's tuned keeps the active profile in /etc/tune-profiles, EL7's in /etc/tuned.
    path = "/etc/tune-profiles/active-profile" if el == 6 else "/etc/tuned/active_profile"
    return Rendering(packages=("tuned",), edit=TreeEdit(files={path: t.tuned_profile + "\n"}))


def _nic_offload(t: Template, el: EL) -> Rendering:
    if not t.tso_gso_off:
        return Rendering(forbidden_tree={_IFCFG: "ETHTOOL_OPTS"})
    return Rendering(edit=TreeEdit(lines={_IFCFG: ('ETHTOOL_OPTS="-K eth0 tso off gso off"',)}))


_IFCFG = "/etc/sysconfig/network-scripts/ifcfg-eth0"


def _ifcfg(t: Template) -> str:
    # Written whole: no HWADDR, no UUID (template hygiene), so the NIC of any instance matches.
    lines = ["DEVICE=eth0", "BOOTPROTO=dhcp", "ONBOOT=yes", "TYPE=Ethernet", "USERCTL=yes"]
    lines.append("PEERDNS=yes")
    lines.append("IPV6INIT=no")
    if t.persistent_dhclient:
        lines.append('PERSISTENT_DHCLIENT="1"')
    return "\n".join(lines) + "\n"


def _network(t: Template, el: EL) -> Rendering:
    forbidden = {} if t.persistent_dhclient else {_IFCFG: "PERSISTENT_DHCLIENT"}
    # Only eth0 (and lo): an ifcfg of another NIC, often pinned by HWADDR, was the build
    # machine's, and would make network's start fail or wait on an instance.
    prune = {"/etc/sysconfig/network-scripts/ifcfg-*": ("ifcfg-eth0", "ifcfg-lo")}
    return Rendering(
        commands=(f"network --bootproto=dhcp --device=eth0 --onboot=on --hostname={t.hostname}",),
        edit=TreeEdit(files={_IFCFG: _ifcfg(t)}, prune=prune),
        forbidden_tree=forbidden,
    )


def _nic_names(t: Template, el: EL) -> Rendering:
    if t.persistent_nic_names:
        return Rendering()
    # 70-persistent-net.rules pins NIC names to the build machine's MACs (70-persistent-cd
    # the same for CD drives): an instance's first NIC must be eth0.
    removals = ("/etc/udev/rules.d/70*",)
    if el == 6:
        return Rendering(
            edit=TreeEdit(
                links={"/etc/udev/rules.d/75-persistent-net-generator.rules": "/dev/null"},
                removals=removals,
            )
        )
    return Rendering(
        kernel_args=("net.ifnames=0", "biosdevname=0"),
        edit=TreeEdit(
            links={"/etc/udev/rules.d/80-net-name-slot.rules": "/dev/null"}, removals=removals
        ),
    )


def _selinux(t: Template, el: EL) -> Rendering:
    config = f"SELINUX={t.selinux}\nSELINUXTYPE=targeted\n"
    edit = TreeEdit(files={"/etc/selinux/config": config})
    forbidden: dict[str, str] = {}
    if t.selinux != "disabled" and t.relabel == "first-boot":
        # Small instances can run out of memory relabelling at first boot: a per-image choice.
        edit = edit.merge(TreeEdit(files={"/.autorelabel": ""}))
    else:
        forbidden["/.autorelabel"] = ""
    return Rendering(commands=(f"selinux --{t.selinux}",), edit=edit, forbidden_tree=forbidden)


def _paravirt(t: Template, el: EL) -> Rendering:
    if not t.paravirt_drivers:
        return Rendering()
    drivers = " ".join(t.paravirt_drivers)
    return Rendering(
        edit=TreeEdit(
            files={"/etc/dracut.conf.d/cloud-drivers.conf": f'add_drivers+=" {drivers} "\n'}
        )
    )


def _login(t: Template, el: EL) -> Rendering:
    password = t.login == "password"
    yes_no = "yes" if password else "no"
    cloud = (
        f"disable_root: {0 if password else 1}\n"
        f"ssh_pwauth: {1 if password else 0}\n"
        f"system_info:\n  default_user:\n    name: {t.cloud_user}\n"
    )
    # The root password stays locked: CloudStack's password server sets one at boot.
    rootpw = "rootpw --iscrypted --lock !!" if el == 6 else "rootpw --lock"
    return Rendering(
        commands=(rootpw,),
        edit=TreeEdit(
            files={"/etc/cloud/cloud.cfg.d/20_login.cfg": cloud},
            lines={
                "/etc/ssh/sshd_config": (
                    f"PermitRootLogin {yes_no}",
                    f"PasswordAuthentication {yes_no}",
                    "UseDNS no",  # no reverse lookup of each client: clouds seldom have one
                )
            },
        ),
    )


def _firewall(t: Template, el: EL) -> Rendering:
    if t.firewall:
        return Rendering(commands=("firewall --enabled --service=ssh",))
    if el == 6:
        # Without /etc/sysconfig/iptables the iptables service loads no rules.
        edit = TreeEdit(
            files={"/etc/sysconfig/system-config-firewall": "--disabled\n"},
            removals=("/etc/sysconfig/iptables", "/etc/sysconfig/ip6tables"),
        )
    else:
        edit = TreeEdit(links={"/etc/systemd/system/firewalld.service": "/dev/null"})
    return Rendering(commands=("firewall --disabled",), edit=edit)


def _timezone(t: Template, el: EL) -> Rendering:
    files = {"/etc/sysconfig/clock": f'ZONE="{t.timezone}"\nUTC=true\n'} if el == 6 else {}
    return Rendering(
        commands=(f"timezone --utc {t.timezone}",),
        edit=TreeEdit(files=files, links={"/etc/localtime": f"../usr/share/zoneinfo/{t.timezone}"}),
    )


_HOSTS = (
    "127.0.0.1   localhost localhost.localdomain localhost4 localhost4.localdomain4\n"
    "::1         localhost localhost.localdomain localhost6 localhost6.localdomain6\n"
)


def _hostname(t: Template, el: EL) -> Rendering:
    # /etc/hosts names localhost only: never the build machine's name, nor the template's
    # hostname, which DHCP replaces.
    files: dict[str, str] = {"/etc/hosts": _HOSTS}
    if el == 6:
        files["/etc/sysconfig/network"] = f"NETWORKING=yes\nNOZEROCONF=yes\nHOSTNAME={t.hostname}\n"
    else:
        files["/etc/hostname"] = f"{t.hostname}\n"
        files["/etc/sysconfig/network"] = "NETWORKING=yes\nNOZEROCONF=yes\n"
    return Rendering(edit=TreeEdit(files=files))


def _lang(t: Template, el: EL) -> Rendering:
    path = "/etc/sysconfig/i18n" if el == 6 else "/etc/locale.conf"
    return Rendering(
        commands=(f"lang {t.lang}",), edit=TreeEdit(files={path: f'LANG="{t.lang}"\n'})
    )


def _keyboard(t: Template, el: EL) -> Rendering:
    if el == 6:
        keyboard = f'KEYTABLE="{t.keyboard}"\nMODEL="pc105"\nLAYOUT="{t.keyboard}"\n'
        files = {"/etc/sysconfig/keyboard": keyboard}
    else:
        files = {"/etc/vconsole.conf": f'KEYMAP="{t.keyboard}"\nFONT="latarcyrheb-sun16"\n'}
    return Rendering(commands=(f"keyboard {t.keyboard}",), edit=TreeEdit(files=files))


def _ntp(t: Template, el: EL) -> Rendering:
    if not t.ntp:
        return Rendering()
    return (
        Rendering(packages=("ntp",), enable=("ntpd",))
        if el == 6
        else Rendering(packages=("chrony",), enable=("chronyd",))
    )


def _hygiene(t: Template, el: EL) -> Rendering:
    if not t.hygiene:
        return Rendering()
    # Each instance must make its own host keys and machine id; an empty machine-id (EL7)
    # makes systemd generate one at first boot.
    files = {"/etc/machine-id": ""} if el == 7 else {}
    return Rendering(
        edit=TreeEdit(
            files=files,
            removals=("/etc/ssh/ssh_host_*", "/var/lib/dbus/machine-id"),
        ),
        forbidden_tree={_IFCFG: "HWADDR"},
    )


def _console(t: Template, el: EL) -> Rendering:
    # Not a template field, but every cloud's serial console log needs it.
    return Rendering(kernel_args=("console=tty0", "console=ttyS0,115200n8"))


FEATURES: tuple[Feature, ...] = (
    Feature("growroot", ("growroot",), _growroot),
    Feature("no-swap", ("swap",), _swap),
    Feature("tuned", ("tuned_profile",), _tuned),
    Feature("tso-gso-off", ("tso_gso_off",), _nic_offload),
    Feature("network", ("persistent_dhclient", "hostname"), _network),
    Feature("dhclient-timeout", (), system.dhclient),
    Feature("nic-names", ("persistent_nic_names",), _nic_names),
    Feature("selinux", ("selinux", "relabel"), _selinux),
    Feature("paravirt-drivers", ("paravirt_drivers",), _paravirt),
    Feature("login", ("login", "cloud_user"), _login),
    Feature("firewall", ("firewall",), _firewall),
    Feature("timezone", ("timezone",), _timezone),
    Feature("hostname", ("hostname",), _hostname),
    Feature("lang", ("lang",), _lang),
    Feature("keyboard", ("keyboard",), _keyboard),
    Feature("ntp", ("ntp",), _ntp),
    Feature("services", (), system.services),
    Feature("tmp-on-disk", (), system.tmp_on_disk),
    Feature("no-rescue-image", (), system.no_rescue),
    Feature("no-firmware", (), system.no_firmware),
    Feature("text-console", (), system.text_console),
    Feature("no-leftovers", (), system.leftovers),
    Feature("hygiene", ("hygiene",), _hygiene),
    Feature("console", (), _console),
)


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def render_all(t: Template, el: EL) -> Rendering:
    """Every feature's rendering, merged in table order (later files win)."""
    parts = [feature.render(t, el) for feature in FEATURES]
    edit = TreeEdit()
    forbidden_tree: dict[str, str] = {}
    for part in parts:
        edit = edit.merge(part.edit)
        forbidden_tree.update(part.forbidden_tree)

    def joined(name: str) -> list[str]:
        return [item for part in parts for item in getattr(part, name)]

    return Rendering(
        commands=tuple(joined("commands")),
        packages=_unique(joined("packages")),
        kernel_args=tuple(joined("kernel_args")),
        edit=edit,
        forbidden_ks=tuple(joined("forbidden_ks")),
        forbidden_tree=forbidden_tree,
        enable=_unique(joined("enable")),
        disable=_unique(joined("disable")),
        remove_packages=_unique(joined("remove_packages")),
        cleanup=_unique(joined("cleanup")),
    )
