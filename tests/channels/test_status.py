"""`release status`: git against the published indexes, drift and what reconcile would do."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from release.channels import index as idx
from release.channels.reconcile import reconcile
from release.channels.status import status
from release.pipeline import Workspace
from release.render.status import render_rich
from tests.channels.kit import IMAGE, make_config, sealed_release
from tests.gitops import merge_feature
from tests.integrity.gpgkit import Keys

RELEASE = str(Path(sys.executable).parent / "release")


def _status(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RELEASE, "status", "--repo", str(repo), *args], capture_output=True, text=True, timeout=120
    )


def test_status_shows_drift_until_reconcile_and_exits_by_it(keys: Keys, tmp_path: Path) -> None:
    kit = make_config(tmp_path, keys)
    work = Workspace(tmp_path / "work")
    sealed_release(work, keys, "1.0.0")
    sealed_release(work, keys, "1.1.0")

    before = _status(kit.clone, "--json")
    assert before.returncode == 1, before.stderr
    rows = {r["channel"]: r for r in json.loads(before.stdout)["rows"]}
    assert set(rows) == {"fx-stable", "fx-testing"}
    for row in rows.values():
        assert row["drift"] and row["target"] == "mirror" and row["serial"] is None
        assert row["action"] == "publish 1.0.0 (first index)"
        assert row["desired"] == f"{IMAGE} 1.0.0"

    reconcile(kit.clone, workspace=work, signing=kit.signing)
    synced = _status(kit.clone)  # not a terminal: plain text
    assert synced.returncode == 0, synced.stdout + synced.stderr
    lines = synced.stdout.splitlines()
    assert lines[0].split() == ["channel", "target", "desired", "published", "serial",
                                "expires", "in", "drift", "action"]  # fmt: skip
    stable = next(line for line in lines if line.startswith("fx-stable"))
    published = idx.parse_index((kit.clone / "mirror/channels/fx-stable.json").read_bytes())
    assert stable.split()[:5] == ["fx-stable", "mirror", IMAGE, "1.0.0", "1.0.0"]
    assert "in sync" in stable and "29d 23h" in stable  # the channels' 30-day default
    assert lines[-1].startswith("in sync at ") and "\x1b[" not in synced.stdout

    merge_feature(kit.clone, "bump", [(f"images/{IMAGE}.yaml", '"1.0.0"', '"1.1.0"')])
    result = status(kit.clone)
    rows_now = {r.channel: r for r in result.rows}
    assert not result.in_sync
    assert rows_now["fx-testing"].drift and rows_now["fx-testing"].published == "1.0.0"
    assert rows_now["fx-testing"].action == "publish 1.1.0 (serial 2)"
    assert not rows_now["fx-stable"].drift and rows_now["fx-stable"].action == "nothing"
    table = render_rich(result, width=160)
    assert "DRIFT" in table and "in sync" in table and "\x1b[" in table

    later = published.expires + dt.timedelta(hours=1)
    expired = status(kit.clone, clock=lambda: later)
    row = next(r for r in expired.rows if r.channel == "fx-stable")
    assert row.drift and row.expires_in == "expired" and "resign" in row.action


def test_a_deleted_channel_shows_as_to_be_retired(keys: Keys, tmp_path: Path) -> None:
    kit = make_config(tmp_path, keys)
    work = Workspace(tmp_path / "work")
    sealed_release(work, keys, "1.0.0")
    reconcile(kit.clone, workspace=work, signing=kit.signing)
    subprocess.run(["git", "rm", "-q", "channels/fx-stable.yaml"], cwd=kit.clone, check=True)
    subprocess.run(["git", "commit", "-qm", "drop fx-stable"], cwd=kit.clone, check=True)
    result = status(kit.clone)
    retire = [r for r in result.rows if r.channel == "fx-stable"]
    assert [(r.target, r.drift) for r in retire] == [("mirror", True)]
    assert retire[0].action.startswith("retire")
