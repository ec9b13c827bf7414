"""Filesystem target: stage the release beside its destination, then rename it into place.

`<root>/<image>/.<version>.staging-partial` fills up file by file (each copied to a `.part`
name, then renamed, so a file there is always whole); the finished directory is renamed to
`<root>/<image>/<version>` in one step. Readers see no release or the whole release.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from release import fsutil
from release.errors import InvalidInput, OperationError
from release.publish.mirror import Conflict, LocalFile, PutContext, Remote, prove
from release.publish.upload_digest import sha256_file


class FilesystemMirror:
    def __init__(self, root: Path, image: str, version: str) -> None:
        self.root = Path(root).absolute()
        self.final = self.root / image / version
        self.staging = self.root / image / f".{version}.staging-partial"

    @property
    def url(self) -> str:
        return self.final.as_uri()

    def check(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise InvalidInput(f"{self.root}: exists and is not a directory")

    def _where(self) -> Path:
        return self.final if self.final.is_dir() else self.staging

    def present(self, names: Sequence[str]) -> dict[str, Remote]:
        where = self._where()
        found = {}
        for name in names:
            path = where / name
            if path.is_file():
                found[name] = Remote(path.stat().st_size, None)
        return found

    def put(self, files: Sequence[LocalFile], ctx: PutContext) -> None:
        if not files:
            return
        if self.final.exists():
            names = ", ".join(f.name for f in files)
            raise Conflict(
                f"{self.final} is already published without {names}"
                " (releases are immutable: publish a new version instead)"
            )
        for f in files:
            prove(f, ctx.journal)
        try:
            self.staging.mkdir(parents=True, exist_ok=True)
            for f in files:
                with ctx.progress(f.name, f.size) as bar:
                    part = self.staging / f".{f.name}.part"
                    fsutil.sparse_copy(f.path, part)  # disks keep their holes on the mirror
                    fsutil.fsync(part)
                    part.replace(self.staging / f.name)
                    bar.advance(f.size)
        except OSError as exc:
            raise OperationError(f"{self.staging}: cannot copy the release: {exc}") from exc

    def read_back(self, files: Sequence[LocalFile]) -> dict[str, Remote]:
        where = self._where()
        back = {}
        for f in files:
            path = where / f.name
            if path.is_file():
                back[f.name] = Remote(path.stat().st_size, sha256_file(path))
        return back

    def finalize(self) -> None:
        if self.final.exists():
            if self.staging.exists():
                shutil.rmtree(self.staging)  # left over by a run that lost the race
            return
        try:
            fsutil.fsync_dir(self.staging)
            self.staging.rename(self.final)  # atomic; refuses a non-empty destination
            fsutil.fsync_dir(self.final.parent)
        except OSError as exc:
            raise OperationError(
                f"{self.final}: cannot move the release into place: {exc}"
            ) from exc
