"""The shared trust rule where channels are signed and checked: a key past its `not_after` (or
revoked in trust.yaml) signs no index (reconcile, resign) and no client accepts an index it
signed (`release verify --channel`). Release directories and `release keys check`:
tests/integrity/test_trust_rule.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from release.channels.reconcile import reconcile
from release.channels.resign import resign
from release.channels.serials import SerialStore
from release.channels.verify import verify_channel
from release.errors import InvalidInput
from release.integrity.keysource import load_key_source
from release.pipeline import Workspace
from tests.channels.kit import IMAGE, ConfigKit, make_config, sealed_release
from tests.conftest import git
from tests.gitops import edit
from tests.integrity.gpgkit import Keys

CLOSED = "    not_after: 2020-01-01\n"


def _trust_good_with(keys_dir: Path, extra: str) -> None:
    """Add `extra` lines to the 'good' key's entry of keys_dir/trust.yaml (the kit writes
    'good', then 'el6')."""
    trust = keys_dir / "trust.yaml"
    text = trust.read_text()
    assert text.count("  el6:\n") == 1
    trust.write_text(text.replace("  el6:\n", extra + "  el6:\n"))


@pytest.fixture
def published(keys: Keys, tmp_path: Path) -> ConfigKit:
    kit = make_config(tmp_path, keys)
    work = Workspace(tmp_path / "work")
    sealed_release(work, keys, "1.0.0")
    reconcile(kit.clone, workspace=work, signing=kit.signing)
    return kit


def test_a_client_refuses_an_index_signed_past_the_keys_window(
    published: ConfigKit, tmp_path: Path
) -> None:
    client_keys = shutil.copytree(published.clone / "keys", tmp_path / "client-keys")
    mirror = str(published.clone / "mirror")
    serials = SerialStore(tmp_path / "serials.json")
    assert verify_channel(mirror, "fx-stable", load_key_source(client_keys), serials=serials).ok
    _trust_good_with(client_keys, CLOSED)
    result = verify_channel(mirror, "fx-stable", load_key_source(client_keys), serials=serials)
    assert not result.ok and result.index is not None
    assert result.index.status == "bad-signature"  # the only change: the window closed


@pytest.mark.parametrize(
    "extra",
    [CLOSED, "    revoked: {date: 2026-12-01, reason: leaked}\n"],
    ids=["closed", "revoked"],
)
def test_the_signer_refuses_a_key_out_of_its_window(
    published: ConfigKit, keys: Keys, tmp_path: Path, extra: str
) -> None:
    clone = published.clone
    _trust_good_with(clone / "keys", extra)
    edit(clone, f"images/{IMAGE}.yaml", '"1.0.0"', '"1.1.0"')  # fx-testing has work to do
    git(clone, "commit", "-qam", "the good key leaves; 1.1.0")
    before = {p.name: p.read_bytes() for p in (clone / "mirror/channels").iterdir()}
    work = Workspace(tmp_path / "w2")
    sealed_release(work, keys, "1.1.0")
    why = "retired: its not_after" if extra == CLOSED else r"revoked on 2026-12-01 \(leaked\)"
    with pytest.raises(InvalidInput, match=f"may not sign channel fx-.*{why}"):
        reconcile(clone, workspace=work, signing=published.signing)
    with pytest.raises(InvalidInput, match=f"may not sign channel fx-stable .*{why}"):
        resign(clone, signing=published.signing, within=10**9)
    assert {p.name: p.read_bytes() for p in (clone / "mirror/channels").iterdir()} == before
    assert not (clone / "mirror" / IMAGE / "1.1.0").exists()
