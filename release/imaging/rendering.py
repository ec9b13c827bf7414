"""What one template feature contributes to an image, in both renderings (kickstart and tree)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from release.imaging.rootfs import TreeEdit

_NONE: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class Rendering:
    commands: tuple[str, ...] = ()  # kickstart commands (one line each)
    packages: tuple[str, ...] = ()  # installed in both renderings
    kernel_args: tuple[str, ...] = ()
    edit: TreeEdit = field(default_factory=TreeEdit)
    forbidden_ks: tuple[str, ...] = ()  # text the kickstart must not contain
    forbidden_tree: Mapping[str, str] = field(default_factory=lambda: _NONE)  # path -> text
    enable: tuple[str, ...] = ()  # services enabled (systemctl / chkconfig in the image)
    disable: tuple[str, ...] = ()
    remove_packages: tuple[str, ...] = ()  # name globs erased after the install (rpm -e)
    cleanup: tuple[str, ...] = ()  # absolute globs (files or folders) removed last
