"""The release record `manifest.json`, file naming and package lists. Pure: no IO.

The manifest is a contract with downstream users (docs/release-directory.md): fields are
only ever added. It is rendered deterministically (sorted keys, fixed indent) so sealing the
same release twice writes the same bytes.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError

from release.errors import InvalidInput, VerificationError
from release.integrity.checksums import unsafe_name
from release.integrity.digests import ALGORITHMS, HEX_LENGTH, Digests
from release.model.base import Model, Name, Version
from release.model.target import Format

MANIFEST = "manifest.json"
FORMAT_VERSION: Literal[1] = 1
EXTENSIONS: Mapping[Format, str] = {
    "qcow2": "qcow2",
    "raw": "raw",
    "vhd": "vhd",
    "ova": "ova",
    "gce": "tar.gz",
}
PACKAGES_SUFFIX = ".packages"
SBOM_SUFFIX = ".spdx.json"
MAX_SIZE = 64 << 20  # package lists of every variant included; still small


class ManifestError(VerificationError):
    """manifest.json is not a valid release record."""


def _check_file_name(name: str) -> str:
    problem = unsafe_name(name)
    if problem:
        raise ValueError(f"name {name!r} {problem}")
    return name


def _check_digests(digests: dict[str, str]) -> dict[str, str]:
    for algo in ALGORITHMS:
        value = digests.get(algo)
        if value is None:
            raise ValueError(f"{algo} digest is missing")
        if not re.fullmatch(rf"{algo}:[0-9a-f]{{{HEX_LENGTH[algo]}}}", value):
            raise ValueError(f"{algo} digest {value!r} is not '{algo}:<lowercase hex>'")
    unknown = set(digests) - set(ALGORITHMS)
    if unknown:
        raise ValueError(f"unknown digest algorithms {sorted(unknown)}")
    return digests


FileName = Annotated[str, AfterValidator(_check_file_name)]
DigestMap = Annotated[dict[str, str], AfterValidator(_check_digests)]


class FileRecord(Model):
    """A file of the release directory: its name, size and every digest (`algo:hex`)."""

    name: FileName
    size: int = Field(ge=0)
    digests: DigestMap

    def hexdigest(self, algo: str) -> str:
        return self.digests[algo].split(":", 1)[1]


class Artifact(FileRecord):
    variant: Name
    format: Format
    compression: Literal["xz"] | None = None  # e.g. the raw disk also shipped as .raw.xz


class Package(Model):
    """An installed rpm: read from the image's rpmdb at build time, listed in the manifest."""

    name: str
    epoch: int = Field(ge=0)
    version: str
    release: str
    arch: str

    def fields(self) -> tuple[str, int, str, str, str]:
        return (self.name, self.epoch, self.version, self.release, self.arch)

    def line(self) -> str:
        """The package list's line: `NAME EPOCH VERSION RELEASE ARCH`."""
        return " ".join(str(field) for field in self.fields())

    def evr(self) -> str:
        prefix = f"{self.epoch}:" if self.epoch else ""
        return f"{prefix}{self.version}-{self.release}"


class BuildInfo(Model):
    builder: str
    time: dt.datetime
    tools: dict[str, str] = Field(default_factory=dict)


class Manifest(Model):
    format_version: Literal[1] = FORMAT_VERSION
    image: Name
    version: Version
    variants: tuple[Name, ...] = Field(min_length=1)
    commit: str
    build: BuildInfo
    artifacts: tuple[Artifact, ...]
    files: tuple[FileRecord, ...] = ()  # package lists and SBOMs
    packages: dict[Name, tuple[Package, ...]] = Field(default_factory=dict)
    sboms: dict[Name, FileName] = Field(default_factory=dict)

    def records(self) -> dict[str, FileRecord]:
        """Every file the manifest describes (artifacts first), by name."""
        return {record.name: record for record in (*self.artifacts, *self.files)}

    def render(self) -> bytes:
        data = self.model_dump(mode="json")
        return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")

    @classmethod
    def parse(cls, data: bytes, file: str = MANIFEST) -> Manifest:
        try:
            return cls.model_validate_json(data)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}"
                for e in error.errors()[:10]
            )
            raise ManifestError(f"{file}: not a valid release manifest: {problems}") from None


def record(name: str, digests: Digests) -> FileRecord:
    return FileRecord(name=name, size=digests.size, digests=digests.prefixed())


def artifact_name(
    image: str, version: str, variant: str, fmt: Format, compression: str | None = None
) -> str:
    suffix = f".{compression}" if compression else ""
    return f"{image}-{version}-{variant}.{EXTENSIONS[fmt]}{suffix}"


def packages_name(image: str, version: str, variant: str) -> str:
    return f"{image}-{version}-{variant}{PACKAGES_SUFFIX}"


def sbom_name(image: str, version: str, variant: str) -> str:
    return f"{image}-{version}-{variant}{SBOM_SUFFIX}"


@dataclass(frozen=True)
class Kind:
    """What a file of a release directory is: an artifact (with its format) or a package list."""

    variant: str
    format: Format | None  # None: the variant's package list
    compression: Literal["xz"] | None = None


def classify(name: str, image: str, version: str, variants: tuple[str, ...]) -> Kind | None:
    """The kind of `name` in the release of `image` `version`, None when it is neither."""
    for variant in variants:
        for fmt in EXTENSIONS:
            if name == artifact_name(image, version, variant, fmt):
                return Kind(variant, fmt)
        if name == artifact_name(image, version, variant, "raw", "xz"):
            return Kind(variant, "raw", "xz")
        if name == packages_name(image, version, variant):
            return Kind(variant, None)
    return None


def parse_packages(text: str, file: str) -> tuple[Package, ...]:
    """`NAME EPOCH VERSION RELEASE ARCH` lines (tabs or spaces), as `rpm -qa --qf` writes."""
    packages = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 5:
            raise InvalidInput(
                f"{file}:{number}: expected 'NAME EPOCH VERSION RELEASE ARCH', got {line!r}"
            )
        name, epoch, version, release, arch = fields
        if epoch == "(none)":
            epoch = "0"
        if not (epoch.isascii() and epoch.isdigit()):  # isdigit() alone accepts '²'
            raise InvalidInput(f"{file}:{number}: epoch {epoch!r} is not a number")
        packages.append(
            Package(name=name, epoch=int(epoch), version=version, release=release, arch=arch)
        )
    return tuple(sorted(packages, key=lambda p: (p.name, p.arch, p.evr())))


def render_json(data: Mapping[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")
