from __future__ import annotations

from pathlib import Path

from release.publish.journal import DONE, Journal, Part, step_id


def test_step_ids_are_content_addressed() -> None:
    a = step_id("s3://b/p/img/1.0", "x.raw", "aa")
    assert a == step_id("s3://b/p/img/1.0", "x.raw", "aa")
    assert a != step_id("s3://b/p/img/1.0", "x.raw", "ab")
    assert a != step_id("s3://b/q/img/1.0", "x.raw", "aa")


def test_records_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / ".release" / "journal.sqlite"
    with Journal(path) as journal:
        journal.record("s1", "t", "x.raw", "aa", 3, DONE, "read back")
        journal.begin_upload("s2", "upload-1", 8)
        journal.add_part("s2", Part(2, '"e2"', "c2", 8))
        journal.add_part("s2", Part(1, '"e1"', "c1", 8))
    with Journal(path) as journal:
        assert journal.state("s1") == DONE
        assert journal.state("nope") is None
        upload = journal.upload("s2")
        assert upload is not None
        assert upload.upload_id == "upload-1"
        assert [p.number for p in upload.parts] == [1, 2]
        journal.end_upload("s2")
        assert journal.upload("s2") is None


def test_digest_cache_is_invalidated_by_a_change(tmp_path: Path) -> None:
    f = tmp_path / "a.raw"
    f.write_bytes(b"one")
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.cache_sha256(f, f.stat(), "digest-one")
        assert journal.cached_sha256(f) == "digest-one"
        f.write_bytes(b"two!")
        assert journal.cached_sha256(f) is None


def _open_at(path: str, start: float) -> None:
    import time as _time

    _time.sleep(max(0.0, start - _time.time()))
    with Journal(Path(path)):
        pass


def test_processes_opening_a_new_journal_together_all_succeed(tmp_path: Path) -> None:
    """Switching a new journal to WAL takes an exclusive lock that SQLite may refuse at once
    (seen in CI: "database is locked" from two reconcilers starting together)."""
    import multiprocessing
    import time as _time

    ctx = multiprocessing.get_context("fork")
    for round_ in range(5):
        path = str(tmp_path / f"j{round_}.sqlite")
        start = _time.time() + 0.3
        procs = [ctx.Process(target=_open_at, args=(path, start)) for _ in range(6)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(60)
        assert [proc.exitcode for proc in procs] == [0] * 6
