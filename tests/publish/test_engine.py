"""The engine against an in-memory mirror that records what it is asked to do."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from release.publish import layout
from release.publish.engine import publish_to
from release.publish.journal import Journal
from release.publish.mirror import LocalFile, PutContext, Remote
from tests.publish.helpers import make_release


class MemoryMirror:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.calls: list[tuple[str, list[str]]] = []
        self.fail_on: str | None = None

    @property
    def url(self) -> str:
        return "memory://img/1.0"

    def check(self) -> None:
        pass

    def present(self, names: Sequence[str]) -> dict[str, Remote]:
        return {n: Remote(len(self.objects[n]), None) for n in names if n in self.objects}

    def put(self, files: Sequence[LocalFile], ctx: PutContext) -> None:
        self.calls.append(("put", [f.name for f in files]))
        for f in files:
            if f.name == self.fail_on:
                raise ConnectionResetError("injected")
            self.objects[f.name] = f.path.read_bytes()

    def read_back(self, files: Sequence[LocalFile]) -> dict[str, Remote]:
        import hashlib

        self.calls.append(("read_back", [f.name for f in files]))
        return {
            f.name: Remote(
                len(self.objects[f.name]), hashlib.sha256(self.objects[f.name]).hexdigest()
            )
            for f in files
            if f.name in self.objects
        }

    def finalize(self) -> None:
        self.calls.append(("finalize", []))


def test_phases_go_in_order_and_each_is_read_back_before_the_next(tmp_path: Path) -> None:
    release = layout.scan(make_release(tmp_path / "src", artifact_size=100))
    mirror = MemoryMirror()
    with Journal(tmp_path / "j.sqlite") as journal:
        summary = publish_to(release, mirror, journal, show_progress=False)
    assert summary.ok
    assert mirror.calls == [
        ("put", ["img-1.0-base.qcow2"]),
        ("read_back", ["img-1.0-base.qcow2"]),
        ("put", ["img-1.0-base.packages"]),
        ("read_back", ["img-1.0-base.packages"]),
        ("put", ["manifest.json"]),
        ("read_back", ["manifest.json"]),
        ("put", ["sha256sum.txt"]),
        ("read_back", ["sha256sum.txt"]),
        ("put", ["manifest.json.asc", "sha256sum.txt.asc"]),
        ("read_back", ["manifest.json.asc", "sha256sum.txt.asc"]),
        ("finalize", []),
    ]


def test_a_failed_artifact_stops_the_run_before_any_metadata(tmp_path: Path) -> None:
    release = layout.scan(make_release(tmp_path / "src", artifact_size=100))
    mirror = MemoryMirror()
    mirror.fail_on = "img-1.0-base.qcow2"
    with Journal(tmp_path / "j.sqlite") as journal:
        summary = publish_to(release, mirror, journal, show_progress=False)
        assert not summary.ok
        assert "artifacts" in (summary.error or "")
        assert mirror.objects == {}
        # The rerun finishes the job.
        mirror.fail_on = None
        summary = publish_to(release, mirror, journal, show_progress=False)
    assert summary.ok
    assert set(mirror.objects) == set(release.names)
