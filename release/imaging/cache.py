"""Content-addressed builds: a build's id is a hash of everything that decides its bytes.

The id covers the variant's resolved definition (repos, packages, excludes, template, disk,
builder), the repos' metadata (`repodata/repomd.xml`: its digest changes whenever a package
is added, removed or replaced, so it stands for the package set dnf resolves) and the
builder's tool versions, and the SOURCE_DATE_EPOCH. A finished build lives in
`<cache>/builds/<id>/`, written to a temp dir and renamed when complete, so a half-built
entry is never seen as a hit.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from release import fsutil, runner
from release.errors import OperationError
from release.model.image import ImageDefinition, PackageSource

SCHEMA = 2  # bump when the builders change what they write


def variant_inputs(image: ImageDefinition, variant: str) -> dict[str, Any]:
    """Everything in the definition that decides this variant's bytes (other variants don't)."""
    return {
        "name": image.name,
        "version": image.version,
        "el": image.el,
        "arch": image.arch,
        "stack": image.stack_of(variant),
        "variant": variant,
        "sources": [s.model_dump(mode="json") for s in image.sources_for(variant)],
        "packages": list(image.packages_for(variant)),
        "exclude": list(image.excludes_for(variant)),
        "template": image.template_for(variant).model_dump(mode="json"),
        "disk": image.disk.model_dump(mode="json"),
        "builder": image.builder,
        "installer": image.installer,
        "koji_target": image.koji_target,
        # only when set, so the ids of builds made before the field existed stay the same
        **({"install_tree": image.install_tree} if image.install_tree else {}),
    }


def repomd_digest(source: PackageSource, timeout: float = 30) -> str:
    url = source.baseurl.rstrip("/") + "/repodata/repomd.xml"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http(s)/file only (validated)
            data: bytes = response.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise OperationError(
            f"repo {source.name!r} is unreachable or not a yum repo: cannot read {url} ({exc}):"
            " check its baseurl"
        ) from exc
    return "sha256:" + hashlib.sha256(data).hexdigest()


def build_id(
    inputs: Mapping[str, Any], repos: Mapping[str, str], tools: Mapping[str, str], sde: int
) -> str:
    """The cache id; `sde` (SOURCE_DATE_EPOCH) is in it: two SDEs make two disks."""
    canonical = json.dumps(
        {"schema": SCHEMA, "inputs": inputs, "repos": repos, "tools": tools, "sde": sde},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def tool_versions(names: tuple[str, ...], memo_file: Path) -> dict[str, str]:
    """`NAME --version` of each tool, remembered per binary (path, size, mtime): asking dnf
    its version costs most of a second, which a cache hit must not pay."""
    memo: dict[str, str] = {}
    if memo_file.is_file():
        try:
            memo = json.loads(memo_file.read_text())
        except ValueError:
            memo = {}
    versions: dict[str, str] = {}
    changed = False
    for name in names:
        path = runner.which(name)
        if path is None:
            versions[name] = "missing"
            continue
        st = Path(path).stat()
        key = f"{path}:{st.st_size}:{st.st_mtime_ns}"
        if key not in memo:
            argv = ("-V",) if name.startswith(("mkfs", "e2fsck", "debugfs")) else ("--version",)
            memo[key] = runner.version(name, argv) or "missing"
            changed = True
        versions[name] = memo[key]
    if changed:
        memo_file.parent.mkdir(parents=True, exist_ok=True)
        fsutil.write_text(memo_file, json.dumps(memo, indent=1, sort_keys=True))
    return versions


class BuildCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def entry(self, build_id: str) -> Path:
        return self.root / "builds" / build_id

    def done(self, build_id: str) -> bool:
        return (self.entry(build_id) / "build.json").is_file()

    def workdir(self, build_id: str) -> Path:
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        work = self.root / "tmp" / f"{build_id[:16]}.{os.getpid()}"
        work.mkdir()
        return work

    def commit(self, build_id: str, work: Path) -> Path:
        final = self.entry(build_id)
        final.parent.mkdir(parents=True, exist_ok=True)
        work.replace(final)  # a directory rename: the entry appears complete or not at all
        return final
