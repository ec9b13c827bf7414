"""The ONE table of cloud-template features: what each puts in a kickstart and in a root tree.

Each `Feature` reads the resolved `Template` and the EL major and returns a `Rendering`:
kickstart commands, packages, kernel arguments and a `TreeEdit`. The kickstart renderer and
the installroot builder both consume this table, and both tests (kickstart text, built
image) walk it, so a feature cannot land in one rendering and be forgotten in the other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from release.build.rootfs import TreeEdit
from release.model.template import EL, Template

_NONE: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class Rendering:
    commands: tuple[str, ...] = ()  # kickstart commands (one line each)
    packages: tuple[str, ...] = ()  # installed in both renderings
    kernel_args: tuple[str, ...] = ()
    edit: TreeEdit = field(default_factory=TreeEdit)
    forbidden_ks: tuple[str, ...] = ()  # text the kickstart must not contain
    forbidden_tree: Mapping[str, str] = field(default_factory=lambda: _NONE)  # path -> text


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
    return Rendering(
        commands=(f"network --bootproto=dhcp --device=eth0 --onboot=on --hostname={t.hostname}",),
        edit=TreeEdit(files={_IFCFG: _ifcfg(t)}),
        forbidden_tree=forbidden,
    )


def _nic_names(t: Template, el: EL) -> Rendering:
    if t.persistent_nic_names:
        return Rendering()
    if el == 6:
        return Rendering(
            edit=TreeEdit(
                links={"/etc/udev/rules.d/75-persistent-net-generator.rules": "/dev/null"},
                removals=("/etc/udev/rules.d/70-persistent-net.rules",),
            )
        )
    return Rendering(
        kernel_args=("net.ifnames=0", "biosdevname=0"),
        edit=TreeEdit(links={"/etc/udev/rules.d/80-net-name-slot.rules": "/dev/null"}),
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


def _hostname(t: Template, el: EL) -> Rendering:
    if el == 6:
        files = {
            "/etc/sysconfig/network": f"NETWORKING=yes\nNOZEROCONF=yes\nHOSTNAME={t.hostname}\n"
        }
    else:
        files = {
            "/etc/hostname": f"{t.hostname}\n",
            "/etc/sysconfig/network": "NETWORKING=yes\nNOZEROCONF=yes\n",
        }
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
    if el == 6:
        links = {f"/etc/rc.d/rc{level}.d/S58ntpd": "../init.d/ntpd" for level in (2, 3, 4, 5)}
        return Rendering(
            commands=("services --enabled=ntpd",), packages=("ntp",), edit=TreeEdit(links=links)
        )
    unit = "/usr/lib/systemd/system/chronyd.service"
    return Rendering(
        commands=("services --enabled=chronyd",),
        packages=("chrony",),
        edit=TreeEdit(links={"/etc/systemd/system/multi-user.target.wants/chronyd.service": unit}),
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
    Feature("hygiene", ("hygiene",), _hygiene),
    Feature("console", (), _console),
)


def render_all(t: Template, el: EL) -> Rendering:
    """Every feature's rendering, merged in table order (later files win)."""
    edit = TreeEdit()
    commands: list[str] = []
    packages: list[str] = []
    args: list[str] = []
    forbidden_ks: list[str] = []
    forbidden_tree: dict[str, str] = {}
    for feature in FEATURES:
        part = feature.render(t, el)
        commands += part.commands
        packages += [p for p in part.packages if p not in packages]
        args += part.kernel_args
        edit = edit.merge(part.edit)
        forbidden_ks += part.forbidden_ks
        forbidden_tree.update(part.forbidden_tree)
    return Rendering(
        commands=tuple(commands),
        packages=tuple(packages),
        kernel_args=tuple(args),
        edit=edit,
        forbidden_ks=tuple(forbidden_ks),
        forbidden_tree=forbidden_tree,
    )
