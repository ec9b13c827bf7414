"""The benchmark's generated config repo is a valid one with the history it claims (no timing)."""

from __future__ import annotations

from pathlib import Path

from bench.plan import make_repo
from release.channels.plan import plan
from release.channels.state import load_state
from tests.conftest import git


def test_generated_repo_is_valid_and_plannable(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, images=3, commits=60)
    assert git(repo, "rev-list", "--count", "HEAD").strip() == "60"
    head = load_state(str(repo), "HEAD")
    assert (len(head.images), len(head.channels)) == (3, 12)
    assert head.channel("img-000-lts").version == "1.0.1"  # pinned to the very first version
    result = plan(str(repo))
    assert result.base_ref == "release/1"
    assert result.builds and {b.image for b in result.builds} <= set(head.images)
    assert any(p.channel.endswith("-canary") for p in result.publishes)


def test_reconcile_row_is_a_noop_over_every_channel(tmp_path: Path) -> None:
    from bench.plan import reconcile_row

    repo = make_repo(tmp_path, images=2, commits=20)
    row = reconcile_row(repo, 2, repeat=1)
    assert "8 channels published" in str(row["what"])
    names = sorted(p.name for p in (repo / "mirror/channels").glob("*.json"))
    assert len(names) == 9 and "snapshot.json" in names  # 8 indexes, the snapshot lists them
