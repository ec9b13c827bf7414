"""What a release directory holds and the order its files are published in (pure, plus a scan).

A release dir is `<image>/<version>/` holding plain files only. Publishing order is a
contract with mirror users: artifacts first, then package lists and SBOMs, then
`manifest.json`, then checksum files, and signatures last, so a mirror never shows a
checksum or a signature for a file it does not have yet.
"""

from __future__ import annotations

import logging
import stat
from dataclasses import dataclass
from pathlib import Path

from release.errors import InvalidInput
from release.integrity import checksums
from release.model.base import check_version
from release.names import name_problem

ARTIFACTS, PACKAGES, MANIFEST, CHECKSUMS, SIGNATURES = range(5)
PHASE_NAMES = ("artifacts", "package lists and SBOMs", "manifest", "checksums", "signatures")

log = logging.getLogger("release.publish")

SEALED_DIGESTS = checksums.CHECKSUM_FILES["sha256"]
_SBOM_SUFFIXES = (".spdx.json", ".cdx.json", ".sbom.json", ".spdx", ".packages", ".intoto.jsonl")
_CHECKSUM_NAMES = ("SUMS", "CHECKSUM", "CHECKSUMS")


def rank(name: str) -> int:
    """The publishing phase of a file, from its name alone."""
    if name.endswith((".asc", ".sig", ".gpg")):
        return SIGNATURES
    if name.endswith("sum.txt") or name.upper().endswith(_CHECKSUM_NAMES):
        return CHECKSUMS
    if name == "manifest.json":
        return MANIFEST
    if name.endswith(_SBOM_SUFFIXES):
        return PACKAGES
    return ARTIFACTS


def ordered(names: list[str]) -> list[str]:
    """Names in publishing order: by phase, then by name (deterministic)."""
    return sorted(names, key=lambda n: (rank(n), n))


@dataclass(frozen=True)
class ReleaseDir:
    path: Path
    image: str
    version: str
    names: tuple[str, ...]  # in publishing order


def scan(path: Path) -> ReleaseDir:
    """Check a release dir and list its files; refuse anything but plain, safely named files."""
    path = Path(path)
    if not path.is_dir():
        raise InvalidInput(f"{path}: not a directory (give a release dir <image>/<version>/)")
    resolved = path.resolve()
    image, version = resolved.parent.name, resolved.name
    if problem := name_problem(image):
        raise InvalidInput(f"{path}: image name {image!r} {problem} (expected <image>/<version>/)")
    try:
        check_version(version)
    except ValueError as exc:
        raise InvalidInput(f"{path}: {exc} (expected <image>/<version>/)") from None
    names: list[str] = []
    for entry in sorted(resolved.iterdir()):
        mode = entry.lstat().st_mode
        if stat.S_ISLNK(mode):
            raise InvalidInput(f"{entry}: is a symlink; a release dir holds plain files only")
        if not stat.S_ISREG(mode):
            raise InvalidInput(f"{entry}: not a plain file; a release dir holds plain files only")
        if problem := name_problem(entry.name):
            raise InvalidInput(f"{entry}: file name {problem}; rename it or remove it")
        names.append(entry.name)
    if not names:
        raise InvalidInput(f"{path}: the release dir is empty")
    return ReleaseDir(resolved, image, version, tuple(ordered(names)))


def sealed_digests(release: ReleaseDir, algo: str = "sha256") -> dict[str, str]:
    """The digests (hex by name) the release's own checksum file states for its files:
    sha256sum.txt, or md5sum.txt / sha1sum.txt for `algo` md5 / sha1.

    These are claims: the adapters prove the bytes they send against them. A release without
    the file, or with one that does not parse, has no claims (its files are hashed instead).
    """
    listing = checksums.CHECKSUM_FILES[algo]
    if listing not in release.names:
        return {}
    path = release.path / listing
    try:
        with path.open("rb") as f:
            data = f.read(checksums.MAX_SIZE + 1)
        if len(data) > checksums.MAX_SIZE:
            raise checksums.ChecksumFileError(listing, "is too large")
        entries = checksums.parse(data, algo, listing)
    except (OSError, checksums.ChecksumFileError) as exc:
        log.warning("%s: not used for the digests (%s); hashing every file instead", path, exc)
        return {}
    return {e.name: e.hexdigest for e in entries if e.name in release.names}
