"""Channel indexes and snapshots: serials only grow, old, expired and mixed indexes are refused.

Signatures are the integrity package's; these pure checks take a `verify` callable, so an HMAC
stands in for it here (the functions are pure: nothing external is being stubbed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from release.channels.index import (
    HISTORY_LIMIT,
    ChannelIndex,
    IndexedRelease,
    canonical,
    check_index,
    check_snapshot,
    next_index,
    next_snapshot,
    parse_index,
    resigned,
    sha256_hex,
)
from release.channels.serials import SerialStore, default_path
from release.errors import InvalidInput

T0 = dt.datetime(2026, 11, 24, 12, 0, 0, tzinfo=dt.UTC)
DAY = 86400
KEYS = {"A" * 40: b"key-a", "B" * 40: b"key-b"}


def sign(data: bytes, key: bytes = b"key-a") -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def verify(data: bytes, signature: bytes) -> str | None:
    for fingerprint, key in KEYS.items():
        if hmac.compare_digest(sign(data, key), signature):
            return fingerprint
    return None


def rel(version: str, image: str = "centos-7-genericcloud") -> IndexedRelease:
    digest = hashlib.sha256(f"{image}/{version}".encode()).hexdigest()
    return IndexedRelease(
        image=image, version=version, path=f"{image}/{version}", manifest_sha256=digest
    )


def first(version: str = "7.9.2009.1") -> ChannelIndex:
    return next_index(None, rel(version), T0, 30 * DAY, channel="el7-stable")


def test_first_index_and_next_bump_the_serial_and_keep_history() -> None:
    one = first()
    assert (one.serial, one.issued, one.expires) == (1, T0, T0 + dt.timedelta(days=30))
    two = next_index(one, rel("7.9.2009.2"), T0 + dt.timedelta(hours=1), DAY)
    assert two.serial == 2
    assert two.current == rel("7.9.2009.2")
    assert two.history == (rel("7.9.2009.1"),)
    back = next_index(two, rel("7.9.2009.1"), T0 + dt.timedelta(hours=2), DAY)
    assert (back.serial, back.current, back.history) == (3, rel("7.9.2009.1"), (rel("7.9.2009.2"),))
    again = resigned(back, T0 + dt.timedelta(days=20), DAY)
    assert (again.serial, again.current, again.history) == (4, back.current, back.history)
    assert again.expires == T0 + dt.timedelta(days=21)


def test_history_is_bounded() -> None:
    index = first("1")
    for n in range(2, HISTORY_LIMIT + 10):
        index = next_index(index, rel(str(n)), T0, DAY)
    assert len(index.history) == HISTORY_LIMIT
    assert index.history[0] == rel(str(HISTORY_LIMIT + 8))


def test_next_index_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="needs the channel name"):
        next_index(None, rel("1"), T0, DAY)
    with pytest.raises(ValueError, match="cannot become"):
        next_index(first(), rel("2"), T0, DAY, channel="el6-stable")
    with pytest.raises(ValueError, match="must be positive"):
        next_index(first(), rel("2"), T0, 0)
    with pytest.raises(ValidationError, match="time zone"):
        next_index(first(), rel("2"), dt.datetime(2026, 1, 1), DAY)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("path", "../etc/passwd", "contains '..'"),
        ("path", "/abs/path", "must be relative"),
        ("manifest_sha256", "AB" * 32, "not a sha256 digest"),
        ("version", "x1", "must start with a digit"),
    ],
)
def test_a_bad_release_reference_cannot_be_built(field: str, value: str, message: str) -> None:
    data = rel("1").model_dump() | {field: value}
    with pytest.raises(ValidationError, match=message):
        IndexedRelease.model_validate(data)


def test_canonical_bytes_are_sorted_compact_and_utc() -> None:
    data = canonical(first())
    assert b" " not in data and b"\n" not in data
    parsed = json.loads(data)
    assert list(parsed) == sorted(parsed)
    assert parsed["issued"] == "2026-11-24T12:00:00Z"
    assert parsed["expires"] == "2026-12-24T12:00:00Z"
    assert canonical(parse_index(data)) == data


@given(
    steps=st.lists(st.one_of(st.just("resign"), st.integers(1, 5)), min_size=1, max_size=20),
    hours=st.integers(1, 1000),
)
def test_serials_only_grow_and_round_trip(steps: list[str | int], hours: int) -> None:
    index = first("1")
    seen = [index]
    for step in steps:
        now = T0 + dt.timedelta(hours=hours)
        index = (
            resigned(index, now, DAY)
            if step == "resign"
            else next_index(index, rel(str(step)), now, DAY)
        )
        seen.append(index)
    assert [i.serial for i in seen] == list(range(1, len(seen) + 1))
    for index in seen:
        assert parse_index(canonical(index)) == index
    newest = seen[-1]
    if len(seen) > 1:
        replay = check_index(canonical(seen[-2]), T0, newest.serial)
        assert replay.status == "replayed"


def test_check_index_accepts_a_fresh_signed_index() -> None:
    data = canonical(first())
    result = check_index(data, T0, None, channel="el7-stable", signature=sign(data), verify=verify)
    assert result.ok, result.message
    assert result.signer == "A" * 40
    assert result.index is not None and result.index.current == rel("7.9.2009.1")
    assert check_index(data, T0, 1).ok  # the same index seen again is not a replay


def test_an_old_index_replayed_is_rejected() -> None:
    old = first()
    new = next_index(old, rel("7.9.2009.2"), T0 + dt.timedelta(hours=1), 30 * DAY)
    assert check_index(canonical(new), T0, old.serial).ok
    result = check_index(canonical(old), T0 + dt.timedelta(hours=2), new.serial)
    assert result.status == "replayed"
    assert "serial 1 is lower than 2" in result.message


def test_an_expired_index_is_rejected() -> None:
    data = canonical(first())
    assert check_index(data, T0 + dt.timedelta(days=30, seconds=-1), None).ok
    result = check_index(data, T0 + dt.timedelta(days=30), None)
    assert result.status == "expired"
    assert "expired at 2026-12-24T12:00:00Z" in result.message


def test_signatures_are_checked_before_the_content() -> None:
    data = canonical(first())
    tampered = data.replace(b'"serial":1', b'"serial":9')
    assert (
        check_index(tampered, T0, None, signature=sign(data), verify=verify).status
        == "bad-signature"
    )
    by_b = check_index(
        data, T0, None, signature=sign(data, b"key-b"), verify=verify, allowed={"A" * 40}
    )
    assert by_b.status == "bad-signature"
    assert "not allowed" in by_b.message
    assert check_index(data, T0, None, verify=verify).status == "bad-signature"  # no signature


def test_invalid_and_misdirected_indexes() -> None:
    assert check_index(b"{}", T0, None).status == "invalid"
    assert check_index(b"\xff", T0, None).status == "invalid"
    wrong = check_index(canonical(first()), T0, None, channel="el6-stable")
    assert wrong.status == "wrong-channel"


def indexes_at(now: dt.datetime, version: str) -> dict[str, bytes]:
    stable = next_index(None, rel(version), now, DAY, channel="el7-stable")
    testing = next_index(None, rel("7.9.2009.3"), now, DAY, channel="el7-testing")
    return {"el7-stable": canonical(stable), "el7-testing": canonical(testing)}


def test_snapshot_lists_every_index_and_a_disagreeing_one_is_rejected() -> None:
    current = indexes_at(T0, "7.9.2009.2")
    snapshot = canonical(next_snapshot(None, current, T0, DAY))
    good = check_snapshot(snapshot, current, now=T0, signature=sign(snapshot), verify=verify)
    assert good.ok, good.message
    mixed = dict(current, **{"el7-stable": indexes_at(T0, "7.9.2009.1")["el7-stable"]})
    bad = check_snapshot(snapshot, mixed)
    assert (bad.ok, bad.mismatched, bad.unlisted) == (False, ("el7-stable",), ())
    assert "el7-stable: sha256 differs" in bad.message
    extra = check_snapshot(snapshot, {**current, "el6-stable": b"{}"})
    assert extra.unlisted == ("el6-stable",)
    assert not check_snapshot(snapshot, current, now=T0 + dt.timedelta(days=1)).ok
    assert not check_snapshot(snapshot, current, signature=b"x", verify=verify).ok


def test_next_snapshot_updates_and_retires() -> None:
    one = next_snapshot(None, indexes_at(T0, "1"), T0, DAY)
    newer = {"el7-stable": b"new bytes"}
    two = next_snapshot(one, newer, T0, DAY, retired=["el7-testing"])
    assert two.serial == 2
    assert two.indexes == {"el7-stable": sha256_hex(b"new bytes")}


def test_serial_store_remembers_the_highest_serial(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "serials.json"
    store = SerialStore(path)
    assert store.last_seen("https://m/el7-stable.json") is None
    assert store.record("https://m/el7-stable.json", 5) == 5
    assert store.record("https://m/el7-stable.json", 3) == 5  # never goes down
    assert SerialStore(path).last_seen("https://m/el7-stable.json") == 5
    assert json.loads(path.read_text()) == {"serials": {"https://m/el7-stable.json": 5}}
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".part")] == []


def test_serial_store_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    store = SerialStore(tmp_path / "serials.json")

    def writer(prefix: str) -> None:
        for n in range(40):
            SerialStore(store.path).record(f"{prefix}{n}", n + 1)

    threads = [threading.Thread(target=writer, args=(p,)) for p in ("a", "b", "c")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(json.loads(store.path.read_text())["serials"]) == 120


def test_serial_store_reports_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "serials.json"
    path.write_text('{"serials": {"x": "high"}}')
    with pytest.raises(InvalidInput, match=f"{path}: not a serials file"):
        SerialStore(path).last_seen("x")


def test_default_path_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_path() == tmp_path / "image-release" / "serials.json"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_path() == tmp_path / "home" / ".cache" / "image-release" / "serials.json"
