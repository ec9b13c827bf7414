"""`release rebuild`: build a published release again and say whether the bytes are the same.

The release is verified first (signatures, digests, the signed provenance); the provenance
names the config repo, the commit, the image, its variants and the SOURCE_DATE_EPOCH. The
definition at that commit is built with that SDE and converted (no signing key: the
signatures, the provenance envelope, manifest.json and the checksum files cannot be the same,
docs/reproducible.md says why); every subject of the provenance (artifacts, package lists,
SBOMs) is compared by digest, and a differing file byte by byte.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from release import runner
from release.channels.state import load_state
from release.errors import InvalidInput, ReleaseError, VerificationError
from release.formats import convert
from release.imaging.builder import build
from release.integrity import manifest, sbom
from release.integrity.keysource import KeySource
from release.integrity.verify import verify_release
from release.pipeline import convert_options

CHUNK = 1 << 20
MAX_RANGES = 20  # per file, in the report
DIFFOSCOPE_TIMEOUT = 600


@dataclass(frozen=True)
class FileDiff:
    name: str
    expected: str  # sha256 hex, as the provenance states
    found: str | None  # None: the rebuild made no such file
    ranges: tuple[tuple[int, int], ...] = ()  # [start, end) byte ranges that differ
    more: int = 0  # differing ranges left out of `ranges`
    diffoscope: str | None = None


@dataclass
class RebuildResult:
    location: str
    image: str
    version: str
    commit: str
    sde: int
    identical: list[str] = field(default_factory=list)
    differing: list[FileDiff] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.identical) and not self.differing

    def to_dict(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "image": self.image,
            "version": self.version,
            "commit": self.commit,
            "source_date_epoch": self.sde,
            "identical": self.identical,
            "differing": [
                {
                    "name": d.name,
                    "expected": d.expected,
                    "found": d.found,
                    "ranges": [list(r) for r in d.ranges],
                    "more_ranges": d.more,
                    "diffoscope": d.diffoscope,
                }
                for d in self.differing
            ],
            "ok": self.ok,
            "seconds": round(self.seconds, 1),
        }


def differing_ranges(a: Path, b: Path, chunk: int = CHUNK) -> Iterator[tuple[int, int]]:
    """The [start, end) byte ranges where `a` and `b` differ, adjacent ones coalesced; the
    longer file's tail is one range."""
    start: int | None = None
    offset = 0
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            x, y = fa.read(chunk), fb.read(chunk)
            if not x and not y:
                break
            for i, same in _bytes_alike(x, y):
                if not same and start is None:
                    start = offset + i
                elif same and start is not None:
                    yield start, offset + i
                    start = None
            offset += max(len(x), len(y))
    if start is not None:
        yield start, offset


def _bytes_alike(x: bytes, y: bytes, block: int = 4096) -> Iterator[tuple[int, bool]]:
    """(index, same) at every change of sameness in `x` vs `y`, and at each block start;
    equal blocks are compared whole, only differing ones byte by byte."""
    for base in range(0, max(len(x), len(y)), block):
        xs, ys = x[base : base + block], y[base : base + block]
        if xs == ys:
            yield base, True
            continue
        for i in range(max(len(xs), len(ys))):
            yield base + i, i < len(xs) and i < len(ys) and xs[i] == ys[i]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _parameters(statement: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    try:
        definition = statement["predicate"]["buildDefinition"]
        params = definition["externalParameters"]
        sde = definition.get("internalParameters", {}).get("SOURCE_DATE_EPOCH")
        subjects = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
        missing = [k for k in ("image", "version", "variants", "commit") if k not in params]
    except (KeyError, TypeError, AttributeError) as exc:
        missing = [str(exc)]
    if missing:
        raise InvalidInput(
            f"the release's provenance lacks {', '.join(missing)}: not a statement of an"
            " image build that `release rebuild` can repeat"
        )
    if not isinstance(sde, int):
        raise InvalidInput(
            "the release's provenance records no SOURCE_DATE_EPOCH: it was built before"
            " reproducible builds, and cannot be rebuilt to the same bytes"
        )
    return params, sde, subjects


def _config(repo: str, commit: str, work: Path) -> str:
    """A local git repository holding `commit`: `repo` itself when it is a local one."""
    if Path(repo).is_dir():
        return repo
    clone = work / "config.git"
    if not clone.is_dir():
        runner.run(["git", "clone", "--bare", "--quiet", "--", repo, str(clone)], timeout=600)
    return str(clone)


def _original(location: str, name: str, work: Path) -> Path:
    if "://" not in location:
        return Path(location) / name
    dest = work / "original" / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    url = location.rstrip("/") + "/" + name
    with urllib.request.urlopen(url, timeout=60) as response, dest.open("wb") as out:  # noqa: S310 - verified http(s) location
        shutil.copyfileobj(response, out, CHUNK)
    return dest


def diffoscope_argv(a: Path, b: Path) -> list[str]:
    return ["diffoscope", "--text", "-", str(a), str(b)]


def _diffoscope(a: Path, b: Path) -> str | None:
    """diffoscope's report (its tail), where it is installed: optional, never required."""
    if runner.which("diffoscope") is None:
        return None
    try:  # exit 1 means "they differ", which we know
        done = runner.run(diffoscope_argv(a, b), check=False, timeout=DIFFOSCOPE_TIMEOUT)
    except ReleaseError as exc:
        return f"diffoscope failed: {exc}"
    return done.text[-20000:]


def _rebuild_outputs(params: dict[str, Any], sde: int, config: str, out: Path, work: Path) -> None:
    image = load_state(config, params["commit"]).image(params["image"])
    if image.version != params["version"]:
        raise InvalidInput(
            f"the config at {params['commit'][:12]} defines {image.name} {image.version},"
            f" not {params['version']}"
        )
    out.mkdir(parents=True, exist_ok=True)
    when = dt.datetime.fromtimestamp(sde, dt.UTC)
    for variant in params["variants"]:
        result = build(image, variant, work / "builds", work / "cache", sde=sde)
        basename = f"{image.name}-{image.version}-{variant}"
        convert(result.raw_path, out, basename, convert_options(image, variant))
        name = manifest.packages_name(image.name, image.version, variant)
        text = result.manifest_path.read_text(encoding="utf-8")
        (out / name).write_text(text, encoding="utf-8")
        packages = manifest.parse_packages(text, name)
        document = sbom.spdx_document(image.name, image.version, variant, packages, when)
        sbom_path = out / manifest.sbom_name(image.name, image.version, variant)
        sbom_path.write_bytes(manifest.render_json(document))


def rebuild_release(
    location: str, keys: KeySource, work: Path, repo: str | None = None
) -> RebuildResult:
    """Verify the release at `location`, rebuild it in `work`, compare every subject."""
    started = time.monotonic()
    verified = verify_release(location, keys, require_provenance=True)
    if not verified.ok or verified.provenance is None:
        problems = "; ".join(verified.failures()[:3]) or "no provenance"
        raise VerificationError(f"{location}: verification FAILED, not rebuilt ({problems})")
    params, sde, subjects = _parameters(verified.provenance)
    source = repo or params.get("repository") or ""
    if not source:
        raise InvalidInput("the provenance names no config repository: pass --repo")
    result = RebuildResult(location, params["image"], params["version"], params["commit"], sde)
    out = work / "rebuilt"
    _rebuild_outputs(params, sde, _config(source, params["commit"], work), out, work)
    for name, expected in sorted(subjects.items()):
        path = out / name
        found = _sha256(path) if path.is_file() else None
        if found == expected:
            result.identical.append(name)
            continue
        result.differing.append(_explain(location, name, expected, found, path, work))
    result.seconds = time.monotonic() - started
    return result


def _explain(
    location: str, name: str, expected: str, found: str | None, path: Path, work: Path
) -> FileDiff:
    if found is None:
        return FileDiff(name, expected, None)
    original = _original(location, name, work)
    ranges: list[tuple[int, int]] = []
    more = 0
    for span in differing_ranges(original, path):
        if len(ranges) < MAX_RANGES:
            ranges.append(span)
        else:
            more += 1
    return FileDiff(name, expected, found, tuple(ranges), more, _diffoscope(original, path))
