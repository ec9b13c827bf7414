"""A client refuses a snapshot whose serial went back, even when the channel index it lists
is the current one: an old snapshot served again could hide a channel retired or re-pointed
since, so the snapshot's serial must never go below the last one this client saw."""

from __future__ import annotations

import shutil
from pathlib import Path

from release.channels.reconcile import reconcile
from release.channels.serials import SerialStore
from release.channels.verify import verify_channel
from release.integrity.keysource import load_key_source
from release.pipeline import Workspace
from tests.channels.kit import IMAGE, make_config, sealed_release
from tests.gitops import merge_feature
from tests.integrity.gpgkit import Keys

SNAPSHOT = ("snapshot.json", "snapshot.json.asc")


def test_a_snapshot_served_again_after_a_newer_one_was_seen_is_refused(
    keys: Keys, tmp_path: Path
) -> None:
    kit = make_config(tmp_path, keys)
    work = Workspace(tmp_path / "work")
    sealed_release(work, keys, "1.0.0")
    sealed_release(work, keys, "1.1.0")
    reconcile(kit.clone, workspace=work, signing=kit.signing)
    mirror = kit.clone / "mirror"
    source = load_key_source(kit.clone / "keys")
    serials = SerialStore(tmp_path / "serials.json")
    assert verify_channel(str(mirror), "fx-stable", source, serials=serials).ok
    stable_index = (mirror / "channels/fx-stable.json").read_bytes()
    old = tmp_path / "old"
    old.mkdir()
    for name in SNAPSHOT:
        shutil.copy(mirror / "channels" / name, old / name)

    # fx-testing follows the image to 1.1.0: a newer snapshot; fx-stable's index is untouched.
    merge_feature(kit.clone, "bump", [(f"images/{IMAGE}.yaml", '"1.0.0"', '"1.1.0"')])
    reconcile(kit.clone, workspace=work, signing=kit.signing)
    assert (mirror / "channels/fx-stable.json").read_bytes() == stable_index
    assert verify_channel(str(mirror), "fx-stable", source, serials=serials).ok
    remembered = serials.path.read_bytes()

    for name in SNAPSHOT:  # the mirror serves the old, validly signed, unexpired snapshot
        shutil.copy(old / name, mirror / "channels" / name)
    replayed = verify_channel(str(mirror), "fx-stable", source, serials=serials)
    assert not replayed.ok
    assert replayed.index is not None and replayed.index.ok  # only the snapshot went back
    assert any("snapshot.json" in p and "serial" in p for p in replayed.problems), replayed.problems
    assert serials.path.read_bytes() == remembered, "a refused run must not lower the serials"
    # A client that never saw the newer snapshot cannot tell: it accepts (documented limit).
    fresh = SerialStore(tmp_path / "fresh.json")
    assert verify_channel(str(mirror), "fx-stable", source, serials=fresh).ok
