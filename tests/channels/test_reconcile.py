"""reconcile against a real git config repo and a filesystem target, releases pre-sealed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from release.channels import index as idx
from release.channels.reconcile import reconcile
from release.channels.serials import SerialStore
from release.channels.state import StateInvalid
from release.channels.verify import verify_channel
from release.errors import InvalidInput, OperationError
from release.integrity.keysource import load_key_source
from release.integrity.signing import SigningConfig
from release.pipeline import Workspace
from release.publish.indexstore import FilesystemIndexStore, Stored
from tests.channels.kit import IMAGE, make_config, sealed_release
from tests.conftest import git
from tests.gitops import merge_feature
from tests.integrity.gpgkit import Keys
from tests.publish.conftest import RsyncDaemon


def _index(mirror: Path, channel: str) -> idx.ChannelIndex:
    return idx.parse_index((mirror / "channels" / f"{channel}.json").read_bytes())


def test_publishes_then_a_second_run_is_a_noop(keys: Keys, tmp_path: Path) -> None:
    kit = make_config(tmp_path, keys)
    work = Workspace(tmp_path / "work")
    release_dir = sealed_release(work, keys, "1.0.0")
    first = reconcile(kit.clone, workspace=work, signing=kit.signing)
    assert first.ok and not first.noop
    mirror = kit.clone / "mirror"  # a relative filesystem path is relative to the repo
    assert (mirror / IMAGE / "1.0.0" / "manifest.json").is_file()
    manifest = (release_dir / "manifest.json").read_bytes()
    for channel in ("fx-stable", "fx-testing"):
        index = _index(mirror, channel)
        assert index.serial == 1 and index.channel == channel
        assert index.current.path == f"{IMAGE}/1.0.0"
        assert index.current.manifest_sha256 == hashlib.sha256(manifest).hexdigest()
        assert keys.fpr["good"] in _signer(keys, mirror / "channels" / f"{channel}.json")
    snapshot = json.loads((mirror / "channels/snapshot.json").read_bytes())
    assert set(snapshot["indexes"]) == {"fx-stable", "fx-testing"}
    assert (mirror / "channels/snapshot.json.asc").is_file()

    second = reconcile(kit.clone, workspace=work, signing=SigningConfig(key_env=None))
    assert second.noop and second.ok  # no signing key needed when nothing differs
    assert _index(mirror, "fx-stable").serial == 1


def _signer(keys: Keys, path: Path) -> str:
    from tests.integrity.gpgkit import gpg

    sig = path.with_name(path.name + ".asc")
    out = gpg(keys.home, "--status-fd", "1", "--verify", str(sig), str(path))
    return out.decode()


def test_a_version_bump_moves_latest_channel_and_keeps_history(keys: Keys, tmp_path: Path) -> None:
    kit = make_config(tmp_path, keys)
    work = Workspace(tmp_path / "work")
    sealed_release(work, keys, "1.0.0")
    sealed_release(work, keys, "1.1.0")
    reconcile(kit.clone, workspace=work, signing=kit.signing)
    merge_feature(kit.clone, "bump", [(f"images/{IMAGE}.yaml", '"1.0.0"', '"1.1.0"')])
    result = reconcile(kit.clone, workspace=work, signing=kit.signing)
    by_channel = {c.channel: c for c in result.channels}
    assert [t.status for t in by_channel["fx-stable"].targets] == ["up-to-date"]
    assert [t.status for t in by_channel["fx-testing"].targets] == ["published"]
    testing = _index(kit.clone / "mirror", "fx-testing")
    assert testing.serial == 2 and testing.current.version == "1.1.0"
    assert [h.version for h in testing.history] == ["1.0.0"]

    # Rollback: the channel file pins the older version again; a higher serial, no build.
    merge_feature(kit.clone, "rollback", [("channels/fx-testing.yaml", "latest", '"1.0.0"')])
    result = reconcile(kit.clone, workspace=work, signing=kit.signing)
    assert not any(c.built for c in result.channels)
    testing = _index(kit.clone / "mirror", "fx-testing")
    assert testing.serial == 3 and testing.current.version == "1.0.0"
    assert [h.version for h in testing.history] == ["1.1.0"]


def test_an_invalid_config_publishes_nothing(keys: Keys, tmp_path: Path) -> None:
    kit = make_config(tmp_path, keys)
    work = Workspace(tmp_path / "work")
    sealed_release(work, keys, "1.0.0")
    (kit.clone / "channels/fx-testing.yaml").write_text("image: nope\nversion: latest\n")
    git(kit.clone, "commit", "-qam", "break it")
    with pytest.raises(StateInvalid, match="fx-testing"):
        reconcile(kit.clone, workspace=work, signing=kit.signing)
    assert not (kit.clone / "mirror").exists()


def test_a_key_not_allowed_for_the_channel_is_refused(keys: Keys, tmp_path: Path) -> None:
    kit = make_config(tmp_path, keys)
    work = Workspace(tmp_path / "work")
    sealed_release(work, keys, "1.0.0")
    el6 = SigningConfig(gnupghome=keys.home, fingerprint=keys.fpr["el6"], key_env=None)
    with pytest.raises(InvalidInput, match="may not sign channel fx-"):
        reconcile(kit.clone, workspace=work, signing=el6)
    assert not (kit.clone / "mirror").exists()


def test_a_version_that_cannot_be_built_fails_clearly(keys: Keys, tmp_path: Path) -> None:
    kit = make_config(tmp_path, keys)
    work = Workspace(tmp_path / "work")
    sealed_release(work, keys, "1.0.0")
    reconcile(kit.clone, workspace=work, signing=kit.signing, channels=["fx-stable"])
    merge_feature(kit.clone, "bump", [(f"images/{IMAGE}.yaml", '"1.0.0"', '"1.1.0"')])
    # 1.1.0 is not sealed and its sources do not exist: the build fails, the run says so.
    result = reconcile(kit.clone, workspace=work, signing=kit.signing, channels=["fx-testing"])
    assert not result.ok
    failed = result.channels[0].targets[0]
    assert failed.status == "failed" and failed.detail
    assert not (kit.clone / "mirror" / IMAGE / "1.1.0").exists()
    with pytest.raises(InvalidInput, match="unknown channel nope"):
        reconcile(kit.clone, workspace=work, signing=kit.signing, channels=["nope"])


def test_reconcile_to_an_rsync_mirror_then_verify_it(
    keys: Keys, rsyncd: RsyncDaemon, tmp_path: Path
) -> None:
    (rsyncd.root / "pub").mkdir()
    kit = make_config(tmp_path, keys, target=f"type: rsync\nurl: {rsyncd.url('/pub')}\n")
    work = Workspace(tmp_path / "work")
    sealed_release(work, keys, "1.0.0")
    assert reconcile(kit.clone, workspace=work, signing=kit.signing).ok
    assert reconcile(kit.clone, workspace=work, signing=kit.signing).noop
    served = rsyncd.root / "pub"
    check = verify_channel(str(served), "fx-testing", load_key_source(kit.clone / "keys"),
                           serials=SerialStore(tmp_path / "serials.json"))  # fmt: skip
    assert check.ok, check.failures()


def test_a_deleted_channel_leaves_the_snapshot(keys: Keys, tmp_path: Path) -> None:
    kit = make_config(tmp_path, keys)
    work = Workspace(tmp_path / "work")
    sealed_release(work, keys, "1.0.0")
    reconcile(kit.clone, workspace=work, signing=kit.signing)
    git(kit.clone, "rm", "-q", "channels/fx-testing.yaml")
    git(kit.clone, "commit", "-qm", "retire fx-testing")
    result = reconcile(kit.clone, workspace=work, signing=kit.signing)
    assert result.retired == ["fx-testing on mirror"] and not result.noop
    mirror = kit.clone / "mirror"
    source = load_key_source(kit.clone / "keys")
    serials = SerialStore(tmp_path / "serials.json")
    gone = verify_channel(str(mirror), "fx-testing", source, serials=serials)
    assert gone.snapshot is not None and gone.snapshot.unlisted == ("fx-testing",)
    assert verify_channel(str(mirror), "fx-stable", source, serials=serials).ok
    assert reconcile(kit.clone, workspace=work, signing=SigningConfig(key_env=None)).noop


class _Killed(BaseException):
    """Stands for a kill -9: nothing after it runs, no handler sees it."""


@pytest.mark.parametrize("killed_at", ["channels/snapshot.json.asc", "channels/snapshot.json"])
def test_a_run_killed_between_index_and_snapshot_is_completed_by_the_next(
    keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, killed_at: str
) -> None:
    """The index was written, the snapshot not (or only its signature): clients reject the
    index until the snapshot lists it, so the rerun must not call the channel up to date."""
    kit = make_config(tmp_path, keys)
    work = Workspace(tmp_path / "work")
    sealed_release(work, keys, "1.0.0")
    store = FilesystemIndexStore
    real_put, real_write = store.put, store.write

    def put(self: FilesystemIndexStore, name: str, data: bytes) -> None:
        real_put(self, name, data)
        if name == killed_at and name.endswith(".asc"):
            raise _Killed

    def write(self: FilesystemIndexStore, name: str, data: bytes, expect: Stored | None) -> None:
        if name == killed_at:
            raise _Killed
        real_write(self, name, data, expect)

    with monkeypatch.context() as patched:
        patched.setattr(store, "put", put)
        patched.setattr(store, "write", write)
        with pytest.raises(_Killed):
            reconcile(kit.clone, workspace=work, signing=kit.signing, channels=["fx-stable"])
    mirror = kit.clone / "mirror"
    source = load_key_source(kit.clone / "keys")
    serials = SerialStore(tmp_path / "serials.json")
    assert not verify_channel(str(mirror), "fx-stable", source, serials=serials).ok

    rerun = reconcile(kit.clone, workspace=work, signing=kit.signing)
    assert rerun.ok
    for channel in ("fx-stable", "fx-testing"):
        assert verify_channel(str(mirror), channel, source, serials=serials).ok
        assert _index(mirror, channel).serial == 1  # the interrupted index was not rewritten
    snapshot = json.loads((mirror / "channels/snapshot.json").read_bytes())
    assert snapshot["serial"] == 2  # one write per index, none lost, none doubled
    assert reconcile(kit.clone, workspace=work, signing=kit.signing).noop


def test_a_corrupt_snapshot_on_the_target_is_a_clear_error(keys: Keys, tmp_path: Path) -> None:
    kit = make_config(tmp_path, keys)
    work = Workspace(tmp_path / "work")
    sealed_release(work, keys, "1.0.0")
    reconcile(kit.clone, workspace=work, signing=kit.signing)
    snapshot = kit.clone / "mirror" / "channels" / "snapshot.json"
    snapshot.write_bytes(b'{"not": "a snapshot"}')
    with pytest.raises(OperationError, match=r"channels/snapshot\.json: not a snapshot"):
        reconcile(kit.clone, workspace=work, signing=kit.signing)
