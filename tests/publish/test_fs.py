from __future__ import annotations

from pathlib import Path

import pytest

from release.model.target import FilesystemTarget
from release.publish.api import publish
from release.publish.journal import Journal
from release.publish.mirror import Conflict
from tests.publish.helpers import ARTIFACT, flip_byte, make_release, same_tree, seal


def _publish(rel: Path, dest: Path, journal: Journal, dry_run: bool = False):  # type: ignore[no-untyped-def]
    target = FilesystemTarget(type="filesystem", path=str(dest))
    return publish(rel, target, journal, dry_run=dry_run, show_progress=False)


def test_publishes_the_whole_release_atomically(tmp_path: Path) -> None:
    rel = make_release(tmp_path / "src")
    dest = tmp_path / "mirror"
    with Journal(tmp_path / "j.sqlite") as journal:
        summary = _publish(rel, dest, journal)
    assert summary.ok
    assert len(summary.published) == 6
    assert same_tree(rel, dest / "img" / "1.0")
    assert sorted(p.name for p in (dest / "img").iterdir()) == ["1.0"]  # no staging left


def test_rerun_skips_an_identical_release(tmp_path: Path) -> None:
    rel = make_release(tmp_path / "src")
    dest = tmp_path / "mirror"
    with Journal(tmp_path / "j.sqlite") as journal:
        _publish(rel, dest, journal)
        before = (dest / "img" / "1.0" / ARTIFACT).stat().st_mtime_ns
        summary = _publish(rel, dest, journal)
    assert summary.ok
    assert summary.published == []
    assert len(summary.skipped) == 6
    assert (dest / "img" / "1.0" / ARTIFACT).stat().st_mtime_ns == before


def test_a_fresh_journal_verifies_by_reading_back(tmp_path: Path) -> None:
    rel = make_release(tmp_path / "src")
    dest = tmp_path / "mirror"
    with Journal(tmp_path / "j1.sqlite") as journal:
        _publish(rel, dest, journal)
    with Journal(tmp_path / "j2.sqlite") as journal:
        summary = _publish(rel, dest, journal)
    assert summary.ok
    assert {o.detail for o in summary.skipped} == {"already there (read back)"}


def test_a_different_release_under_the_same_name_is_refused(tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    with Journal(tmp_path / "j.sqlite") as journal:
        _publish(make_release(tmp_path / "a", seed=1), dest, journal)
        published = (dest / "img" / "1.0" / ARTIFACT).read_bytes()
        with pytest.raises(Conflict, match=ARTIFACT):
            _publish(make_release(tmp_path / "b", seed=2), dest, journal)
    assert (dest / "img" / "1.0" / ARTIFACT).read_bytes() == published


def test_same_size_different_bytes_is_caught_by_read_back(tmp_path: Path) -> None:
    rel = make_release(tmp_path / "src")
    dest = tmp_path / "mirror"
    with Journal(tmp_path / "j1.sqlite") as journal:
        _publish(rel, dest, journal)
    tampered = dest / "img" / "1.0" / ARTIFACT
    data = bytearray(tampered.read_bytes())
    data[100] ^= 0xFF
    tampered.write_bytes(bytes(data))
    with Journal(tmp_path / "j2.sqlite") as journal, pytest.raises(Conflict, match=ARTIFACT):
        _publish(rel, dest, journal)


def test_an_interrupted_staging_is_resumed(tmp_path: Path) -> None:
    rel = make_release(tmp_path / "src")
    dest = tmp_path / "mirror"
    staging = dest / "img" / ".1.0.staging-partial"
    staging.mkdir(parents=True)
    (staging / ARTIFACT).write_bytes((rel / ARTIFACT).read_bytes())
    (staging / ".manifest.json.part").write_bytes(b"half")  # a copy killed midway
    with Journal(tmp_path / "j.sqlite") as journal:
        summary = _publish(rel, dest, journal)
    assert summary.ok
    assert [o.name for o in summary.skipped] == [ARTIFACT]
    assert same_tree(rel, dest / "img" / "1.0")


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    rel = make_release(tmp_path / "src")
    dest = tmp_path / "mirror"
    with Journal(tmp_path / "j.sqlite") as journal:
        summary = _publish(rel, dest, journal, dry_run=True)
    assert {o.status for o in summary.outcomes} == {"would-send"}
    assert not dest.exists()


def test_published_disks_keep_their_holes(tmp_path: Path) -> None:
    """A mirror holds a sparse disk in the blocks of its data, not in its whole size."""
    rel = make_release(tmp_path / "src")
    disk = rel / ARTIFACT
    with disk.open("r+b") as f:
        f.truncate(1 << 30)
        f.seek(512 << 20)
        f.write(b"data" * 1024)
    dest = tmp_path / "mirror"
    with Journal(tmp_path / "j.sqlite") as journal:
        assert _publish(rel, dest, journal).ok
    published = dest / "img" / "1.0" / ARTIFACT
    assert published.stat().st_size == 1 << 30
    assert published.stat().st_blocks <= disk.stat().st_blocks + 64  # data only, not 1 GiB
    assert published.stat().st_blocks * 512 < 64 << 20


def test_a_file_changed_after_sealing_is_never_published(tmp_path: Path) -> None:
    rel = make_release(tmp_path / "src")
    seal(rel)
    flip_byte(rel / ARTIFACT, 5)
    dest = tmp_path / "mirror"
    with Journal(tmp_path / "j.sqlite") as journal:
        summary = _publish(rel, dest, journal)
    assert summary.verification_failed
    assert "changed after the release was sealed" in str(summary.error)
    assert not (dest / "img").exists()  # not even a staging directory
