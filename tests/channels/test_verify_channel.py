"""A client verifying a channel through its signed index on a mirror reconcile wrote."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from release.channels.reconcile import reconcile
from release.channels.serials import SerialStore
from release.channels.verify import verify_channel
from release.cli.integrity_cmds import verify_command
from release.errors import VerificationError
from release.integrity.keysource import load_key_source
from release.integrity.signing import SigningConfig
from release.pipeline import Workspace
from tests.channels.kit import IMAGE, ConfigKit, make_config, sealed_release
from tests.conftest import git
from tests.gitops import merge_feature
from tests.integrity.gpgkit import Keys


@pytest.fixture
def published(keys: Keys, tmp_path: Path) -> ConfigKit:
    kit = make_config(tmp_path, keys)
    work = Workspace(tmp_path / "work")
    sealed_release(work, keys, "1.0.0")
    sealed_release(work, keys, "1.1.0")
    reconcile(kit.clone, workspace=work, signing=kit.signing)
    return kit


def _copy_channels(mirror: Path, where: Path) -> Path:
    shutil.copytree(mirror / "channels", where)
    return where


def test_cli_verifies_through_the_index(published: ConfigKit, tmp_path: Path) -> None:
    mirror = str(published.clone / "mirror")
    args = [mirror, "--channel", "fx-stable", "--keys", str(published.clone / "keys"),
            "--serials", str(tmp_path / "serials.json"), "--json"]  # fmt: skip
    out = CliRunner().invoke(verify_command, args)
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["ok"] and data["index"]["status"] == "ok" and data["index"]["serial"] == 1
    assert data["release"]["version"] == "1.0.0"
    serials = json.loads((tmp_path / "serials.json").read_text())["serials"]
    # Kept per channel and key, not per mirror path (see test_serials_by_identity.py).
    assert serials[f"index:fx-stable:{published.signing.fingerprint}"] == 1
    assert not any(mirror in key for key in serials)


def test_replayed_expired_and_mismatched_are_rejected(
    published: ConfigKit, keys: Keys, tmp_path: Path
) -> None:
    mirror = published.clone / "mirror"
    source = load_key_source(published.clone / "keys")
    serials = SerialStore(tmp_path / "serials.json")
    assert verify_channel(str(mirror), "fx-testing", source, serials=serials).ok
    old = _copy_channels(mirror, tmp_path / "old-channels")

    merge_feature(published.clone, "bump", [(f"images/{IMAGE}.yaml", '"1.0.0"', '"1.1.0"')])
    reconcile(published.clone, workspace=Workspace(tmp_path / "work"), signing=published.signing)
    assert verify_channel(str(mirror), "fx-testing", source, serials=serials).ok

    # An old (validly signed) index served again: its serial is lower than the one seen.
    for name in ("fx-testing.json", "fx-testing.json.asc"):
        shutil.copy(old / name, mirror / "channels" / name)
    replayed = verify_channel(str(mirror), "fx-testing", source, serials=serials)
    assert not replayed.ok and replayed.index is not None
    assert replayed.index.status == "replayed"

    # A fresh client has no serial to compare with, but the snapshot disagrees with the index.
    fresh = verify_channel(str(mirror), "fx-testing", source, serials=SerialStore(tmp_path / "x"))
    assert not fresh.ok and fresh.snapshot is not None
    assert fresh.snapshot.mismatched == ("fx-testing",)

    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
    expired = verify_channel(str(mirror), "fx-stable", source, serials=serials, now=later)
    assert expired.index is not None and expired.index.status == "expired"


def test_a_signer_not_allowed_for_the_channel_is_rejected(
    published: ConfigKit, keys: Keys, tmp_path: Path
) -> None:
    mirror = published.clone / "mirror"
    data = (mirror / "channels/fx-stable.json").read_bytes()
    (mirror / "channels/fx-stable.json.asc").write_bytes(keys.sign("el6", data))
    result = verify_channel(str(mirror), "fx-stable", load_key_source(published.clone / "keys"),
                            serials=SerialStore(tmp_path / "s.json"))  # fmt: skip
    assert result.index is not None and result.index.status == "bad-signature"


def test_a_release_swapped_under_the_index_is_rejected(
    published: ConfigKit, keys: Keys, tmp_path: Path
) -> None:
    mirror = published.clone / "mirror"
    # Replace the published release with another sealed one of the same name.
    other = sealed_release(Workspace(tmp_path / "other"), keys, "1.0.0")
    shutil.rmtree(mirror / IMAGE / "1.0.0")
    shutil.copytree(other, mirror / IMAGE / "1.0.0")
    group = click.Group("release", commands=[verify_command])
    args = ["verify", str(mirror), "--channel", "fx-stable", "--keys",
            str(published.clone / "keys"), "--serials", str(tmp_path / "s.json")]  # fmt: skip
    out = CliRunner().invoke(group, args)
    assert isinstance(out.exception, VerificationError)
    assert "a different release under the same name" in out.output


def test_a_snapshot_last_signed_by_another_channels_key_is_accepted(
    keys: Keys, tmp_path: Path
) -> None:
    kit = make_config(tmp_path, keys)
    (kit.clone / "channels/el6-fx.yaml").write_text('image: fixture-el7\nversion: "1.0.0"\n'
                                                    "targets: [mirror]\n")  # fmt: skip
    git(kit.clone, "add", "-A")
    git(kit.clone, "commit", "-qm", "a channel signed by the el6 key")
    work = Workspace(tmp_path / "work")
    sealed_release(work, keys, "1.0.0")
    reconcile(kit.clone, workspace=work, signing=kit.signing, channels=["fx-stable"])
    el6 = SigningConfig(gnupghome=keys.home, fingerprint=keys.fpr["el6"], key_env=None)
    reconcile(kit.clone, workspace=work, signing=el6, channels=["el6-fx"])
    source = load_key_source(kit.clone / "keys")
    result = verify_channel(str(kit.clone / "mirror"), "fx-stable", source,
                            serials=SerialStore(tmp_path / "s.json"))  # fmt: skip
    assert result.ok, result.failures()
