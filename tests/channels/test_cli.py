"""The gitops commands through click, and `release resign` with a clock moved forward."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click
from click.testing import CliRunner

from release.channels import index as idx
from release.channels.resign import resign
from release.cli.gitops_cmds import COMMANDS
from release.errors import ReleaseError
from release.pipeline import Workspace
from tests.channels.kit import make_config, sealed_release
from tests.integrity.gpgkit import Keys


def _cli() -> click.Group:
    group = click.Group("release")
    for command in COMMANDS:
        group.add_command(command)
    return group


def _signing_args(keys: Keys) -> list[str]:
    return ["--gnupghome", str(keys.home), "--fingerprint", keys.fpr["good"]]


def test_publish_one_channel_then_reconcile_the_rest(keys: Keys, tmp_path: Path) -> None:
    kit = make_config(tmp_path, keys)
    work = tmp_path / "work"
    sealed_release(Workspace(work), keys, "1.0.0")
    common = ["--repo", str(kit.clone), "--work", str(work), *_signing_args(keys)]
    runner = CliRunner()
    out = runner.invoke(_cli(), ["publish", "--channel", "fx-stable", *common, "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert [c["channel"] for c in data["channels"]] == ["fx-stable"]
    assert data["channels"][0]["targets"][0]["status"] == "published"
    assert not (kit.clone / "mirror/channels/fx-testing.json").exists()

    out = runner.invoke(_cli(), ["reconcile", *common])
    assert out.exit_code == 0, out.output
    assert "published  mirror serial 1" in out.output and "fx-testing" in out.output
    out = runner.invoke(_cli(), ["reconcile", *common])
    assert out.exit_code == 0 and "nothing to do" in out.output


def test_unknown_channel_exits_2(keys: Keys, tmp_path: Path) -> None:
    kit = make_config(tmp_path, keys)
    args = ["publish", "--channel", "nope", "--repo", str(kit.clone), "--work", str(tmp_path)]
    out = CliRunner().invoke(_cli(), args)
    assert isinstance(out.exception, ReleaseError) and out.exception.exit_code == 2


def test_resign_renews_only_indexes_near_expiry(keys: Keys, tmp_path: Path) -> None:
    kit = make_config(tmp_path, keys)
    work = tmp_path / "work"
    sealed_release(Workspace(work), keys, "1.0.0")
    args = ["reconcile", "--repo", str(kit.clone), "--work", str(work), *_signing_args(keys)]
    assert CliRunner().invoke(_cli(), args).exit_code == 0
    path = kit.clone / "mirror/channels/fx-stable.json"
    before = idx.parse_index(path.read_bytes())

    fresh = resign(kit.clone, signing=kit.signing)
    assert {r.status for r in fresh.indexes} == {"fresh"}
    later = before.expires - dt.timedelta(days=2)
    result = resign(kit.clone, signing=kit.signing, channels=["fx-stable"], clock=lambda: later)
    assert [(r.channel, r.status, r.serial) for r in result.indexes] == [
        ("fx-stable", "resigned", 2)
    ]
    after = idx.parse_index(path.read_bytes())
    assert after.current == before.current and after.expires > before.expires
    snapshot = (kit.clone / "mirror/channels/snapshot.json").read_bytes()
    check = idx.check_snapshot(snapshot, {"fx-stable": path.read_bytes()})
    assert check.ok, check.message
