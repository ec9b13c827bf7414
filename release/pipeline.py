"""From an image definition to a sealed release directory: build, convert, seal.

    <work>/releases/<image>/<version>/            the finished, signed release (immutable)
    <work>/releases/<image>/.<version>.staging/   where it is assembled; resumable

Each step is skipped when its output is already there: builds are cached by content, a
variant whose every format is in staging is not converted again, and a finished release
directory is reused as it is. The release appears under its final name only once sealed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from release import fsutil
from release.formats import ConvertOptions, convert
from release.imaging import reproducible
from release.imaging.builder import BuildResult, build
from release.integrity.manifest import MANIFEST, artifact_name, packages_name
from release.integrity.provenance import Origin, builder_id
from release.integrity.releasedir import SIGNATURE_SUFFIX, ReleaseInfo, seal
from release.integrity.signing import Signer
from release.model.image import ImageDefinition

log = logging.getLogger(__name__)

MIB = 1 << 20


@dataclass(frozen=True)
class Workspace:
    """Where releases are assembled and builds are cached."""

    root: Path

    @property
    def builds(self) -> Path:
        return self.root / "builds"

    @property
    def cache(self) -> Path:
        """The build cache (`release build --cache`): entries in `<cache>/builds/<id>/`."""
        return self.root / "cache"

    def release_dir(self, image: str, version: str) -> Path:
        return self.root / "releases" / image / version

    def staging_dir(self, image: str, version: str) -> Path:
        return self.root / "releases" / image / f".{version}.staging"


@dataclass(frozen=True)
class MadeRelease:
    image: str
    version: str
    directory: Path
    reused: bool  # the sealed release was already there

    def to_dict(self) -> dict[str, object]:
        return {
            "image": self.image,
            "version": self.version,
            "directory": str(self.directory),
            "reused": self.reused,
        }


def is_sealed(directory: Path) -> bool:
    return (directory / (MANIFEST + SIGNATURE_SUFFIX)).is_file()


def convert_options(image: ImageDefinition, variant: str) -> ConvertOptions:
    return ConvertOptions(
        formats=image.formats_for(variant),
        qcow2_compat=image.compat,
        product=image.product or image.name,
        version=image.version,
        cpus=image.hardware.cpus,
        memory_mib=max(1, image.hardware.memory // MIB),
        raw_xz=image.raw_xz and "raw" in image.formats_for(variant),
    )


def definition_digest(image: ImageDefinition) -> str:
    """The definition's content hash: sha256 of its validated model as canonical JSON (the
    same definition written in other YAML gives the same hash)."""
    canonical = json.dumps(image.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def origin_of(
    image: ImageDefinition,
    repository: str,
    repos: dict[str, str],
    started: dt.datetime,
    sde: int | None = None,
) -> Origin:
    """What the provenance says about where a release came from (reads the environment)."""
    urls = {s.name: s.baseurl for v in image.variants for s in image.sources_for(v)}
    return Origin(
        repository=repository,
        definition=f"images/{image.name}.yaml",
        definition_digest=definition_digest(image),
        source_date_epoch=sde,
        repos={name: (urls[name], digest) for name, digest in repos.items() if name in urls},
        builder_id=builder_id(os.environ, socket.gethostname()),
        started=started,
        finished=dt.datetime.now(dt.UTC).replace(microsecond=0),
    )


def make_release(
    image: ImageDefinition,
    *,
    commit: str,
    workspace: Workspace,
    signer: Signer,
    repository: str = "",
    commit_time: int = 0,
) -> MadeRelease:
    """The sealed release directory of `image` at its version, made or reused. Its
    SOURCE_DATE_EPOCH is the environment's, else `commit_time` (the config commit's): it is
    the manifest's and SBOMs' build time, so those and the disks are reproducible."""
    final = workspace.release_dir(image.name, image.version)
    if is_sealed(final):
        log.info("%s %s: already released in %s", image.name, image.version, final)
        return MadeRelease(image.name, image.version, final, reused=True)
    staging = workspace.staging_dir(image.name, image.version)
    staging.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    sde = reproducible.source_date_epoch(os.environ, commit_time)
    tools: dict[str, str] = {}
    repos: dict[str, str] = {}
    builder = image.builder
    for variant in image.variants:
        if _variant_done(staging, image, variant):
            log.info("%s %s %s: converted already", image.name, image.version, variant)
            continue
        result = build(image, variant, workspace.builds, workspace.cache, sde=sde)
        tools.update(result.tools)
        repos.update(result.repos)
        _stage_variant(result, staging, image, variant)
    info = ReleaseInfo(
        image=image.name,
        version=image.version,
        variants=tuple(image.variants),
        commit=commit,
        builder=builder,
        build_time=dt.datetime.fromtimestamp(sde, dt.UTC),
        tools=tools,
        origin=origin_of(image, repository, repos, started, sde),
    )
    seal(staging, info, signer)
    staging.rename(final)
    fsutil.fsync_dir(final.parent)
    log.info("%s %s: released in %s", image.name, image.version, final)
    return MadeRelease(image.name, image.version, final, reused=False)


def _variant_done(staging: Path, image: ImageDefinition, variant: str) -> bool:
    names = [
        artifact_name(image.name, image.version, variant, f) for f in image.formats_for(variant)
    ]
    names.append(packages_name(image.name, image.version, variant))
    return all((staging / name).is_file() for name in names)


def _stage_variant(
    result: BuildResult, staging: Path, image: ImageDefinition, variant: str
) -> None:
    basename = f"{image.name}-{image.version}-{variant}"
    convert(result.raw_path, staging, basename, convert_options(image, variant))
    # The package list goes last: its presence marks the variant as done.
    with fsutil.atomic_path(staging / packages_name(image.name, image.version, variant)) as tmp:
        shutil.copyfile(result.manifest_path, tmp)
