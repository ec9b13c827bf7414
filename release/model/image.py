"""Image definitions, `images/<name>.yaml`: one versioned image; bumping `version` releases it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from release.model.base import ByteSize, Model, Name, Version
from release.model.target import ALL_FORMATS, Format
from release.model.template import EL, STACKS, Stack, Template, TemplateOverrides, resolve
from release.model.trust import Fingerprint

Arch = Literal["x86_64", "aarch64"]


class PackageSource(Model):
    """A yum repository and the key its packages are signed with."""

    name: Name
    baseurl: str
    gpgkey: str | None = None  # URL of the packages' signing key
    gpgkey_fingerprint: Fingerprint | None = None  # pinned, checked after import
    gpgcheck: bool = True

    @field_validator("baseurl")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://", "file:///")):
            raise ValueError(f"{value!r} is not an http(s):// or file:/// URL")
        return value

    @model_validator(mode="after")
    def _key_when_checked(self) -> PackageSource:
        if self.gpgcheck and not self.gpgkey:
            raise ValueError(
                "gpgcheck is on but no gpgkey is given: name the key that signs these packages"
                " (or set gpgcheck: false for an unsigned test repo)"
            )
        return self


class Disk(Model):
    size: ByteSize
    filesystem: Literal["ext4"] = "ext4"

    @field_validator("size")
    @classmethod
    def _big_enough(cls, value: int) -> int:
        if value < 64 << 20:
            raise ValueError("the disk must be at least 64MiB")
        if value % (1 << 20):
            raise ValueError("the disk size must be a whole number of MiB")
        return value


class Hardware(Model):
    """The virtual hardware an OVA descriptor asks for."""

    cpus: int = Field(default=1, ge=1, le=64)
    memory: ByteSize = 1 << 30


class Variant(Model):
    """One build per cloud stack; its name is the stack unless `stack` says otherwise."""

    stack: Stack | None = None
    sources: tuple[PackageSource, ...] = ()  # extra repos, e.g. the stack's guest agents
    packages: tuple[str, ...] = ()  # added to the image's packages (e.g. the stack's agents)
    exclude: tuple[str, ...] = ()
    template: TemplateOverrides = TemplateOverrides()
    formats: tuple[Format, ...] | None = None


Builder = Literal["installroot", "kickstart"]
# What the kickstart builder hands the rendered kickstart to: the install tree's own installer
# booted in QEMU (any Linux host), the host's anaconda (EL hosts only), or a koji hub.
Installer = Literal["qemu", "livemedia-creator", "koji"]


class ImageDefinition(Model):
    name: Name
    version: Version
    description: str = ""
    product: str | None = None  # product name in OVF descriptors; defaults to the name
    el: EL
    arch: Arch = "x86_64"
    sources: tuple[PackageSource, ...] = Field(min_length=1)
    packages: tuple[str, ...] = Field(min_length=1)
    exclude: tuple[str, ...] = ()
    disk: Disk
    template: TemplateOverrides = TemplateOverrides()
    variants: dict[Name, Variant] = Field(min_length=1)
    formats: tuple[Format, ...] = ALL_FORMATS
    qcow2_compat: Literal["0.10", "1.1"] | None = None  # default: 0.10 for EL6, 1.1 for EL7
    raw_xz: bool = False
    hardware: Hardware = Hardware()
    builder: Builder = "installroot"
    installer: Installer = "qemu"  # used by builder: kickstart
    # installer: qemu boots the installer of this tree (URL, directory or ISO); default: the
    # first source's baseurl, which for CentOS is the install tree (.../os/x86_64/)
    install_tree: str | None = None
    koji_target: str | None = None  # the koji build target, with installer: koji

    @field_validator("installer", mode="before")
    @classmethod
    def _known_installer(cls, value: object) -> object:
        if value == "virt-install":
            raise ValueError(
                "installer: virt-install is no longer supported (it needs libvirt and boots"
                " without net.ifnames=0): use installer: qemu, which boots the same installer"
                " in QEMU directly"
            )
        return value

    @field_validator("install_tree")
    @classmethod
    def _tree(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://", "file:///", "/")):
            raise ValueError(
                f"{value!r}: give an http(s):// or file:/// URL, or an absolute path to an"
                " install tree or a DVD .iso"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ImageDefinition:
        if self.el == 6 and self.arch != "x86_64":
            raise ValueError(f"EL6 images are x86_64 only, not {self.arch}")
        for name, variant in self.variants.items():
            if variant.stack is None and name not in STACKS:
                raise ValueError(
                    f"variant {name!r} is not a cloud stack name: add `stack:` "
                    f"(one of {', '.join(STACKS)})"
                )
        if self.builder == "kickstart" and self.installer == "koji" and not self.koji_target:
            raise ValueError("installer: koji needs koji_target (the koji build target to use)")
        return self

    def stack_of(self, variant: str) -> Stack:
        chosen = self.variants[variant]
        if chosen.stack is not None:
            return chosen.stack
        if variant in STACKS:
            return variant
        raise KeyError(variant)

    def template_for(self, variant: str) -> Template:
        return resolve(
            self.el, self.stack_of(variant), self.template, self.variants[variant].template
        )

    def formats_for(self, variant: str) -> tuple[Format, ...]:
        return self.variants[variant].formats or self.formats

    def sources_for(self, variant: str) -> tuple[PackageSource, ...]:
        return (*self.sources, *self.variants[variant].sources)

    def packages_for(self, variant: str) -> tuple[str, ...]:
        return (*self.packages, *self.variants[variant].packages)

    def excludes_for(self, variant: str) -> tuple[str, ...]:
        return (*self.exclude, *self.variants[variant].exclude)

    @property
    def compat(self) -> Literal["0.10", "1.1"]:
        return self.qcow2_compat or ("0.10" if self.el == 6 else "1.1")
