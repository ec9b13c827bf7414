"""`release verify`: check a release directory (local or remote) against pinned keys.

Order matters: first the signatures of the checksum files and manifest.json, over the exact
bytes then parsed (no second read an attacker could swap); then names, agreement between the
manifest and the checksum files; last each file's size and digests, reading no more than its
signed size. The result says per file what passed and what failed.
"""

from __future__ import annotations

import contextlib
import hashlib
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from release.errors import VerificationError
from release.integrity import checksums
from release.integrity.checksums import CHECKSUM_FILES
from release.integrity.deadline import Budget
from release.integrity.digests import ALGORITHMS, Digests, digest_bytes
from release.integrity.keyring import MAX_SIGNATURE_SIZE, Keyring, SignatureCheck, open_keyring
from release.integrity.keysource import KeySource
from release.integrity.manifest import MANIFEST, Manifest, artifact_name
from release.integrity.manifest import MAX_SIZE as MANIFEST_MAX_SIZE
from release.integrity.provenance import MAX_SIZE as PROVENANCE_MAX_SIZE
from release.integrity.provenance import PROVENANCE
from release.integrity.provenance_check import check_provenance
from release.integrity.sources import Source, SourceProblem, open_source

SIGNED_FILES: tuple[str, ...] = (*CHECKSUM_FILES.values(), MANIFEST)


@dataclass
class FileResult:
    name: str
    passed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "passed": self.passed, "problems": self.problems}


@dataclass
class VerifyResult:
    location: str
    channel: str | None
    signatures: list[SignatureCheck] = field(default_factory=list)
    files: list[FileResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    image: str | None = None  # as the signed manifest says
    version: str | None = None
    provenance: dict[str, Any] | None = None  # the verified in-toto statement
    manifest_sha256: str | None = None  # of the very manifest.json bytes verified

    @property
    def ok(self) -> bool:
        return (
            not self.problems
            and bool(self.files)
            and all(s.ok for s in self.signatures)
            and all(f.ok for f in self.files)
        )

    def failures(self) -> list[str]:
        found = list(self.problems)
        for check in self.signatures:
            found.extend(check.problems)
        found.extend(f"{f.name}: {p}" for f in self.files for p in f.problems)
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "channel": self.channel,
            "image": self.image,
            "version": self.version,
            "manifest_sha256": self.manifest_sha256,
            "ok": self.ok,
            "signatures": [
                {
                    "file": s.file,
                    "ok": s.ok,
                    "signers": list(s.signers),
                    "problems": list(s.problems),
                }
                for s in self.signatures
            ],
            "files": [f.to_dict() for f in self.files],
            "problems": self.problems,
            "provenance": self.provenance,
        }


@dataclass
class _Trusted:
    """What the verified signatures vouch for."""

    raw: dict[str, bytes] = field(default_factory=dict)  # signed files and their .asc
    sums: dict[str, dict[str, str]] = field(default_factory=dict)  # algo -> name -> hex
    manifest: Manifest | None = None


def _fetch_signed(
    source: Source, keyring: Keyring, channel: str | None, result: VerifyResult
) -> _Trusted:
    trusted = _Trusted()
    for name in SIGNED_FILES:
        limit = checksums.MAX_SIZE if name != MANIFEST else MANIFEST_MAX_SIZE
        data = _read_required(source, name, limit, result)
        signature = _read_required(source, name + ".asc", MAX_SIGNATURE_SIZE, result)
        if data is None or signature is None:
            continue
        check = keyring.verify(data, signature, name, channel)
        result.signatures.append(check)
        if check.ok:
            trusted.raw[name] = data
            trusted.raw[name + ".asc"] = signature
            _parse(name, data, trusted, result)
    return trusted


def _read_required(source: Source, name: str, limit: int, result: VerifyResult) -> bytes | None:
    """The file's bytes; None, with the reason recorded, when missing or unreadable."""
    try:
        data = source.read_small(name, limit)
    except SourceProblem as problem:
        result.problems.append(f"{name}: {problem}")
        return None
    if data is None:
        result.problems.append(f"{name} is missing: a release must carry it")
    return data


def _parse(name: str, data: bytes, trusted: _Trusted, result: VerifyResult) -> None:
    try:
        if name == MANIFEST:
            trusted.manifest = Manifest.parse(data, name)
            return
        algo = next(a for a, f in CHECKSUM_FILES.items() if f == name)
        trusted.sums[algo] = {e.name: e.hexdigest for e in checksums.parse(data, algo, name)}
    except VerificationError as error:
        result.problems.append(str(error))


def _cross_check(trusted: _Trusted, result: VerifyResult) -> None:
    """The three checksum files and the manifest must tell the same story."""
    listings = {CHECKSUM_FILES[a]: set(sums) for a, sums in trusted.sums.items()}
    if len({frozenset(names) for names in listings.values()}) > 1:
        union = set().union(*listings.values())
        for file, names in listings.items():
            for name in sorted(union - names):
                result.problems.append(f"{file} does not list {name} (the checksum files differ)")
    if trusted.manifest is None:
        return
    for record in trusted.manifest.records().values():
        for algo, sums in trusted.sums.items():
            listed = sums.get(record.name)
            if listed is None:
                result.problems.append(
                    f"{MANIFEST} describes {record.name},"
                    f" which {CHECKSUM_FILES[algo]} does not list"
                )
            elif listed != record.hexdigest(algo):
                result.problems.append(
                    f"{MANIFEST} and {CHECKSUM_FILES[algo]} disagree on the {algo} of {record.name}"
                )


def _check_identity(
    record: Manifest, location: str, wanted: tuple[str | None, str | None], result: VerifyResult
) -> None:
    """A signed release served under another release's name is a replay: refuse it.

    Artifacts must carry the manifest's image and version in their names; and the manifest's
    image and version must be the ones asked for (`wanted`, e.g. by a channel index or the
    user), or else the ones the location is named after (`.../<image>/<version>/`). Without
    this, an old or another image's validly signed release put in the place of the one
    expected would pass every signature check.
    """
    for artifact in record.artifacts:
        expected = artifact_name(
            record.image, record.version, artifact.variant, artifact.format, artifact.compression
        )
        if artifact.name != expected:
            result.problems.append(
                f"{MANIFEST}: artifact {artifact.name} should be named {expected}"
            )
    image, version = _expected(location, wanted)
    if image is None or version is None:
        result.problems.append(
            f"{location}: cannot tell which release it should hold (not laid out as"
            " <image>/<version>/): pass the image and version expected (--image, --version)"
        )
    elif (record.image, record.version) != (image, version):
        why = (
            "an older release served under a newer name?"
            if record.image == image
            else "another image's release served in its place?"
        )
        hint = (
            ""
            if wanted[0] and wanted[1]
            else "; the release expected is read from the path: pass --image and --version"
            " if it is stored under another name"
        )
        result.problems.append(
            f"{location} should hold {image} {version}, but its signed manifest is"
            f" {record.image} {record.version} ({why}){hint}"
        )


def _expected(
    location: str, wanted: tuple[str | None, str | None]
) -> tuple[str | None, str | None]:
    """The image and version asked for; where not asked, the location's last two names."""
    path = urllib.parse.unquote(urllib.parse.urlsplit(location).path)
    parts = [p for p in path.split("/") if p not in ("", ".")]
    found = (parts[-2], parts[-1]) if len(parts) >= 2 else (None, None)
    return (wanted[0] or found[0], wanted[1] or found[1])


def _selection(trusted: _Trusted, files: Iterable[str] | None, result: VerifyResult) -> list[str]:
    listed: set[str] = set().union(*trusted.sums.values()) if trusted.sums else set()
    if trusted.manifest is not None:
        listed.update(trusted.manifest.records())
    if not files:
        return sorted(listed)
    chosen = []
    for name in dict.fromkeys(files):  # once each, in the order given
        if name in listed:
            chosen.append(name)
        else:
            result.problems.append(f"{name} is not listed in the signed checksum files")
    return chosen


def _check_file(source: Source, name: str, trusted: _Trusted) -> FileResult:
    outcome = FileResult(name)
    expected = {algo: sums[name] for algo, sums in trusted.sums.items() if name in sums}
    record = trusted.manifest.records().get(name) if trusted.manifest else None
    try:
        if name in trusted.raw:
            digests: Digests = digest_bytes(trusted.raw[name])  # the very bytes verified above
        elif record is not None:
            digests = source.digest(name, record.size, ALGORITHMS)
            outcome.passed.append(f"size {record.size}")
        else:
            outcome.problems.append(f"not described by {MANIFEST}: no signed size to check")
            return outcome
    except SourceProblem as problem:
        outcome.problems.append(str(problem))
        return outcome
    if "sha256" not in expected:
        outcome.problems.append("no trusted sha256 digest (sha256sum.txt failed or omits it)")
    for algo, hexdigest in sorted(expected.items()):
        if digests.hexdigests[algo] == hexdigest:
            outcome.passed.append(algo)
        else:
            outcome.problems.append(
                f"{algo} mismatch: the file is not what was signed (tampered or corrupted)"
            )
    return outcome


def verify_release(
    location: str,
    keys: KeySource,
    *,
    channel: str | None = None,
    files: Iterable[str] | None = None,
    require_provenance: bool = False,
    image: str | None = None,
    version: str | None = None,
    keyring: Keyring | None = None,
    budget: Budget | None = None,
) -> VerifyResult:
    """Verify the release at `location` (path or URL) with `keys` only.

    `image` and `version`, when given, are the release expected; otherwise the location's
    `<image>/<version>` names. `keyring` reuses an open keyring of the same keys; `budget`
    bounds every read in time (the run's deadline and one per document).
    """
    source = open_source(location, budget)
    result = VerifyResult(source.location, channel)
    with _keyring(keys, keyring) as opened:
        trusted = _fetch_signed(source, opened, channel, result)
        _cross_check(trusted, result)
        if trusted.manifest is not None and PROVENANCE in trusted.manifest.records():
            data = _read_required(source, PROVENANCE, PROVENANCE_MAX_SIZE, result)
            if data is not None:
                trusted.raw[PROVENANCE] = data  # digested below: the very bytes checked here
                check, result.provenance, problems = check_provenance(
                    data, opened, channel, trusted.manifest, trusted.sums.get("sha256", {})
                )
                result.signatures.append(check)
                result.problems.extend(problems)
        elif require_provenance:
            result.problems.append(
                f"{PROVENANCE} is not part of this release (sealed before provenance existed?)"
            )
    if trusted.manifest is not None:
        result.image, result.version = trusted.manifest.image, trusted.manifest.version
        result.manifest_sha256 = hashlib.sha256(trusted.raw[MANIFEST]).hexdigest()
        _check_identity(trusted.manifest, source.location, (image, version), result)
    for name in _selection(trusted, files, result):
        result.files.append(_check_file(source, name, trusted))
    if not result.files and not result.problems:
        result.problems.append("no file could be checked: nothing is vouched for by a signature")
    return result


@contextlib.contextmanager
def _keyring(keys: KeySource, keyring: Keyring | None) -> Iterator[Keyring]:
    if keyring is not None:
        yield keyring
        return
    with open_keyring(keys) as opened:
        yield opened
