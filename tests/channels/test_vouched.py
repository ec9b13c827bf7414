"""The publisher's trust verdicts on published documents: judged with gpgv once, remembered
by content, and judged afresh when the keys directory or the bytes change."""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path

import pytest

from release.channels import vouched
from release.channels.vouched import keys_digest, voucher
from release.integrity.keyring import Keyring, open_keyring
from release.integrity.keysource import KeySource
from release.model.target import FilesystemTarget
from release.publish.targets import open_index_store
from tests.integrity.gpgkit import Keys, write_keys_dir

NAME = "channels/fx.json"


def test_a_verdict_is_remembered_until_the_keys_or_the_bytes_change(
    keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, cache = tmp_path / "repo", tmp_path / "work/vouched.json"
    write_keys_dir(keys, repo / "keys", {"good": ["fx*"]})
    store = open_index_store(FilesystemTarget(type="filesystem", path=str(tmp_path / "m")))
    store.put(NAME, b"{}")
    store.put(NAME + ".asc", keys.sign("good", b"{}"))
    built: list[int] = []
    real = open_keyring

    def counted(source: KeySource) -> contextlib.AbstractContextManager[Keyring]:
        built.append(1)
        return real(source)

    monkeypatch.setattr(vouched, "open_keyring", counted)

    def judge() -> bool:
        with voucher(repo, cache) as judging:
            return judging.vouched(store, NAME, b"{}", "fx")

    assert judge() and len(built) == 1
    assert judge() and len(built) == 1, "remembered: no keyring, no gpgv"
    store.put(NAME + ".asc", keys.sign("el6", b"{}"))  # other bytes: judged again, refused
    assert not judge() and len(built) == 2
    store.put(NAME + ".asc", keys.sign("good", b"{}"))
    with (repo / "keys/trust.yaml").open("a") as out:  # the key is revoked: judged again
        out.write("    revoked: {date: 2026-12-01, reason: leaked}\n")
    assert not judge() and len(built) == 3


def test_the_verdicts_depend_on_the_day(keys: Keys, tmp_path: Path) -> None:
    """not_after is a date: yesterday's verdict says nothing about today."""
    directory = write_keys_dir(keys, tmp_path / "keys", {"good": ["*"]})
    day = dt.date(2026, 12, 2)
    assert keys_digest(directory, day) != keys_digest(directory, day + dt.timedelta(days=1))


def test_without_a_keys_directory_nothing_is_vouched_for(tmp_path: Path) -> None:
    store = open_index_store(FilesystemTarget(type="filesystem", path=str(tmp_path / "m")))
    store.put(NAME, b"{}")
    store.put(NAME + ".asc", b"-----BEGIN PGP SIGNATURE-----")
    with voucher(tmp_path / "no-repo", tmp_path / "cache.json") as judging:
        assert not judging.vouched(store, NAME, b"{}", "fx")
    assert not (tmp_path / "cache.json").exists()
