"""A channel pinned to a version that is no longer at HEAD is built from the definition as it
was at the commit that had that version (real build of the fixture image)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from release.channels import index as idx
from release.channels.reconcile import reconcile
from release.pipeline import Workspace
from tests.channels.kit import IMAGE, make_config
from tests.conftest import git
from tests.gitops import merge_feature
from tests.integrity.gpgkit import Keys

pytestmark = pytest.mark.slow


def test_pinned_old_version_is_built_from_its_commit(
    keys: Keys, el_repos: dict[int, Path], tmp_path: Path
) -> None:
    kit = make_config(tmp_path, keys, baseurl=f"file://{el_repos[7]}")
    initial = git(kit.clone, "rev-parse", "HEAD").strip()
    merge_feature(kit.clone, "bump", [(f"images/{IMAGE}.yaml", '"1.0.0"', '"1.1.0"')])
    work = Workspace(tmp_path / "work")
    result = reconcile(kit.clone, workspace=work, signing=kit.signing, channels=["fx-stable"])
    assert result.ok, result.to_dict()
    assert result.channels[0].built and result.channels[0].version == "1.0.0"
    release = kit.clone / "mirror" / IMAGE / "1.0.0"
    manifest = json.loads((release / "manifest.json").read_text())
    assert manifest["commit"] == initial  # the definition as it was then
    assert (release / f"{IMAGE}-1.0.0-openstack.qcow2").is_file()
    index = idx.parse_index((kit.clone / "mirror/channels/fx-stable.json").read_bytes())
    assert index.current.version == "1.0.0"
