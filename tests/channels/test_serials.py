"""The serials a client remembers are keyed by what a channel is: its name and its keys."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from release.channels.serials import SerialStore, channel_keys
from release.model.trust import TrustFile

A, B, C = "A" * 40, "B" * 40, "C" * 40


def trust(**keys: tuple[str, list[str]] | tuple[str, list[str], str]) -> TrustFile:
    data = {}
    for name, spec in keys.items():
        entry: dict[str, object] = {"file": f"{name}.asc", "fingerprint": spec[0]}
        entry["channels"] = spec[1]
        if len(spec) > 2:
            entry["not_after"] = spec[2]
        data[name] = entry
    return TrustFile.model_validate({"keys": data})


def test_keys_name_the_channel_and_each_key_scoped_to_it() -> None:
    file = trust(old=(A, ["el7-*"]), el6=(C, ["el6-*"]))
    assert channel_keys("index", "el7-stable", file) == [f"index:el7-stable:{A}"]
    assert channel_keys("snapshot", "el6-x", file) == [f"snapshot:el6-x:{C}"]


def test_a_retired_key_still_names_the_channel() -> None:
    yesterday = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    file = trust(old=(A, ["*"], yesterday), new=(B, ["*"]))
    assert channel_keys("index", "c", file) == [f"index:c:{A}", f"index:c:{B}"]


def test_a_rotation_keeps_the_memory_and_another_publisher_does_not_share_it(
    tmp_path: Path,
) -> None:
    store = SerialStore(tmp_path / "serials.json")
    before = channel_keys("index", "c", trust(old=(A, ["*"])))
    store.record_all(before, 7)
    during = channel_keys("index", "c", trust(old=(A, ["*"]), new=(B, ["*"])))
    assert store.last_seen_any(during) == 7  # the new key joined: still 7
    store.record_all(during, 8)
    after = channel_keys("index", "c", trust(new=(B, ["*"])))
    assert store.last_seen_any(after) == 8  # the old key left: still 8
    stranger = channel_keys("index", "c", trust(theirs=(C, ["*"])))
    assert store.last_seen_any(stranger) is None  # same name, other keys: another channel


def test_record_all_never_lowers_a_serial(tmp_path: Path) -> None:
    store = SerialStore(tmp_path / "serials.json")
    store.record_all(["x", "y"], 5)
    assert store.record_all(["x"], 3) == 5
    assert store.last_seen("x") == 5 and store.last_seen("y") == 5
