"""Writing the metadata of a release directory `<image>/<version>/`.

Given the artifacts and package lists, write the SBOMs, manifest.json, the three checksum
files and their detached signatures (docs/release-directory.md is the contract). Every
artifact is read once, for all digests at once; every file appears atomically; a rerun on an
unchanged directory rewrites nothing and keeps the signatures that still verify.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from release import fsutil, progress
from release.errors import InvalidInput
from release.integrity import checksums, manifest, provenance, sbom
from release.integrity.checksums import CHECKSUM_FILES, Entry
from release.integrity.digests import Digests, digest_bytes, digest_file
from release.integrity.keyring import open_keyring
from release.integrity.keysource import load_key_source
from release.integrity.manifest import MANIFEST, Artifact, BuildInfo, FileRecord, Manifest
from release.integrity.provenance import PROVENANCE, Origin
from release.integrity.signing import Signer
from release.model.target import Format
from release.names import name_problem

log = logging.getLogger(__name__)

SIGNATURE_SUFFIX = ".asc"
SIGNED_FILES: tuple[str, ...] = (MANIFEST, *CHECKSUM_FILES.values())


@dataclass(frozen=True)
class ReleaseInfo:
    """What the release record says about where a release came from."""

    image: str
    version: str
    variants: tuple[str, ...]
    commit: str
    builder: str
    build_time: dt.datetime
    tools: Mapping[str, str] = field(default_factory=dict)
    origin: Origin = field(default_factory=Origin)


@dataclass(frozen=True)
class SealResult:
    directory: Path
    manifest: Manifest
    written: tuple[str, ...]  # files (re)written by this run; empty on an unchanged rerun
    signed: tuple[str, ...]


@dataclass(frozen=True)
class _Inputs:
    artifacts: dict[str, tuple[str, Format, Literal["xz"] | None]]  # name -> variant, format, xz
    packages: dict[str, str]  # variant -> package list name


def _generated(info: ReleaseInfo) -> set[str]:
    names = {*SIGNED_FILES, *(n + SIGNATURE_SUFFIX for n in SIGNED_FILES), PROVENANCE}
    names.update(manifest.sbom_name(info.image, info.version, v) for v in info.variants)
    return names


def scan(directory: Path, info: ReleaseInfo) -> _Inputs:
    """The artifacts and package lists of the directory; refuse anything else."""
    for value, what in [
        (info.image, "image"),
        (info.version, "version"),
        *[(v, "variant") for v in info.variants],
    ]:
        problem = name_problem(value)
        if problem:
            raise InvalidInput(f"{what} {value!r} {problem}")
    if not directory.is_dir():
        raise InvalidInput(f"{directory}: not a directory")
    generated = _generated(info)
    inputs = _Inputs({}, {})
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") and path.name.endswith(".part"):
            # Our own temporary file, or a conversion's staging folder, from an interrupted run.
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            continue
        if path.is_symlink() or not path.is_file():
            raise InvalidInput(f"{path}: not a regular file (symlinks are refused in a release)")
        kind = manifest.classify(path.name, info.image, info.version, info.variants)
        if kind is not None and kind.format is not None:
            inputs.artifacts[path.name] = (kind.variant, kind.format, kind.compression)
        elif kind is not None:
            inputs.packages[kind.variant] = path.name
        elif path.name not in generated:
            raise InvalidInput(
                f"{path}: unexpected file in the release directory; expected"
                f" {info.image}-{info.version}-<variant>.<qcow2|raw|vhd|ova|tar.gz> and .packages"
            )
    for variant in info.variants:
        if variant not in inputs.packages:
            raise InvalidInput(
                f"{directory}: {manifest.packages_name(info.image, info.version, variant)} is"
                " missing: every variant needs its package list"
            )
        if not any(v == variant for v, _, _ in inputs.artifacts.values()):
            raise InvalidInput(f"{directory}: no artifact for variant {variant!r}")
    return inputs


def _digest_all(directory: Path, names: list[str]) -> dict[str, Digests]:
    total = sum((directory / name).stat().st_size for name in names)
    digests: dict[str, Digests] = {}
    with progress.task("digesting release files", total, nbytes=True) as task:
        for name in names:
            digests[name] = digest_file(directory / name, progress=task.advance)
    return digests


def _write_if_changed(path: Path, data: bytes, written: list[str]) -> bool:
    if path.is_file() and not path.is_symlink() and path.read_bytes() == data:
        return False
    fsutil.write_bytes(path, data)
    written.append(path.name)
    return True


def build_manifest(
    info: ReleaseInfo,
    inputs: _Inputs,
    digests: Mapping[str, Digests],
    sboms: Mapping[str, bytes],
    package_lists: Mapping[str, tuple[manifest.Package, ...]],
) -> Manifest:
    """The release record, from digests already computed (pure). `sboms` holds every
    metadata file made from them (the SBOMs, the provenance), name to bytes."""
    artifacts = tuple(
        Artifact(
            name=name,
            size=digests[name].size,
            digests=digests[name].prefixed(),
            variant=variant,
            format=fmt,
            compression=compression,
        )
        for name, (variant, fmt, compression) in sorted(inputs.artifacts.items())
    )
    files = [manifest.record(name, digests[name]) for name in sorted(inputs.packages.values())]
    files += [manifest.record(name, digest_bytes(data)) for name, data in sorted(sboms.items())]
    return Manifest(
        image=info.image,
        version=info.version,
        variants=info.variants,
        commit=info.commit,
        build=BuildInfo(builder=info.builder, time=info.build_time, tools=dict(info.tools)),
        artifacts=artifacts,
        files=tuple(sorted(files, key=lambda r: r.name)),
        packages=dict(package_lists),
        sboms={v: manifest.sbom_name(info.image, info.version, v) for v in info.variants},
    )


def checksum_files(records: list[FileRecord]) -> dict[str, bytes]:
    """The three checksum files for `records` (pure)."""
    return {
        file: checksums.render(Entry(r.name, r.hexdigest(algo)) for r in records)
        for algo, file in CHECKSUM_FILES.items()
    }


class _SignatureKeeper:
    """Keeps an existing signature when it still verifies with the signer's key."""

    def __init__(self, signer: Signer) -> None:
        self._signer = signer

    def still_valid(self, data: bytes, signature: bytes, name: str) -> bool:
        with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
            key_file = Path(tmp) / "signer.asc"
            key_file.write_bytes(self._signer.public_key())
            with open_keyring(load_key_source(key_file)) as keyring:
                return keyring.verify(data, signature, name).ok


def _sign(
    directory: Path, name: str, data: bytes, changed: bool, signer: Signer, result: list[str]
) -> bytes:
    asc = directory / (name + SIGNATURE_SUFFIX)
    if not changed and asc.is_file() and not asc.is_symlink():
        existing = asc.read_bytes()
        if _SignatureKeeper(signer).still_valid(data, existing, name):
            return existing
    signature = signer.sign_detached(data)
    fsutil.write_bytes(asc, signature)
    result.append(asc.name)
    return signature


def _provenance_statement(
    info: ReleaseInfo, inputs: _Inputs, digests: Mapping[str, Digests], sboms: Mapping[str, bytes]
) -> bytes:
    subjects = {name: digests[name].hexdigests["sha256"] for name in digests}
    sbom_digests = {name: digest_bytes(data).hexdigests["sha256"] for name, data in sboms.items()}
    document = provenance.statement(
        image=info.image,
        version=info.version,
        variants=info.variants,
        commit=info.commit,
        builder=info.builder,
        tools=info.tools,
        subjects={**subjects, **sbom_digests},
        sboms=sbom_digests,
        origin=info.origin,
        finished=info.origin.finished or info.build_time,
    )
    return provenance.payload(document)


def _provenance(directory: Path, body: bytes, signer: Signer, written: list[str]) -> bytes:
    """The signed envelope of `body`: the one already there when it says the same and its
    signature still verifies with the signer's key (a rerun re-signs nothing)."""
    path = directory / PROVENANCE
    if path.is_file() and not path.is_symlink():
        try:
            existing = provenance.parse_envelope(path.read_bytes())
        except provenance.ProvenanceError:
            existing = None
        if existing is not None and existing.body == body:
            keeper = _SignatureKeeper(signer)
            if all(
                keeper.still_valid(existing.signed_bytes, sig, PROVENANCE)
                for _, sig in existing.signatures
            ):
                return path.read_bytes()
    data = provenance.envelope(
        body,
        signer.sign_detached(provenance.pae(provenance.PAYLOAD_TYPE, body)),
        signer.fingerprint,
    )
    fsutil.write_bytes(path, data)
    written.append(PROVENANCE)
    return data


def seal(directory: Path, info: ReleaseInfo, signer: Signer) -> SealResult:
    """Write (or refresh) every metadata file of the release directory, then sign."""
    inputs = scan(directory, info)
    digests = _digest_all(directory, sorted([*inputs.artifacts, *inputs.packages.values()]))
    package_lists = {
        variant: manifest.parse_packages(
            (directory / name).read_text(encoding="utf-8"), str(directory / name)
        )
        for variant, name in inputs.packages.items()
    }
    sboms = {
        manifest.sbom_name(info.image, info.version, variant): manifest.render_json(
            sbom.spdx_document(
                info.image, info.version, variant, package_lists[variant], info.build_time
            )
        )
        for variant in info.variants
    }
    written: list[str] = []
    signed: list[str] = []
    for name, data in sboms.items():
        _write_if_changed(directory / name, data, written)
    statement = _provenance_statement(info, inputs, digests, sboms)
    envelope = _provenance(directory, statement, signer, written)
    record = build_manifest(info, inputs, digests, {**sboms, PROVENANCE: envelope}, package_lists)
    manifest_bytes = record.render()
    changed = _write_if_changed(directory / MANIFEST, manifest_bytes, written)
    manifest_sig = _sign(directory, MANIFEST, manifest_bytes, changed, signer, signed)
    listed = [
        *record.records().values(),
        manifest.record(MANIFEST, digest_bytes(manifest_bytes)),
        manifest.record(MANIFEST + SIGNATURE_SUFFIX, digest_bytes(manifest_sig)),
    ]
    for file, data in checksum_files(listed).items():
        changed = _write_if_changed(directory / file, data, written)
        _sign(directory, file, data, changed, signer, signed)
    written.extend(signed)
    log.info("sealed %s: %d files written, %d signed", directory, len(written), len(signed))
    return SealResult(directory, record, tuple(written), tuple(signed))
