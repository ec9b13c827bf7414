"""`release keys check`: what makes a keys directory unsound, and what only earns a warning."""

from __future__ import annotations

from pathlib import Path

from release.integrity.keys import check_keys, export_public_keys
from release.integrity.keysource import load_key_source
from tests.integrity.gpgkit import Keys, destroy_home, gpg, new_home, write_keys_dir


def test_sound_keys_dir(keys: Keys, tmp_path: Path) -> None:
    directory = write_keys_dir(keys, tmp_path / "keys", {"good": ["*"], "el6": ["el6-*"]})
    assert check_keys(load_key_source(directory)) == ([], [])


def test_warnings_expiring_and_unreferenced(keys: Keys, tmp_path: Path) -> None:
    directory = write_keys_dir(keys, tmp_path / "keys", {"good": ["*"], "soon": ["*"]})
    (directory / "stranger.asc").write_bytes(keys.public["stranger"])
    problems, warnings = check_keys(load_key_source(directory))
    assert problems == []
    assert warnings[0].startswith("soon: expires on ")
    assert (
        warnings[1]
        == f"{directory / 'stranger.asc'}: not referenced by trust.yaml; it can verify nothing"
    )


def test_problems_name_the_key(keys: Keys, tmp_path: Path) -> None:
    trust = {"good": ["*"], "ecc": ["*"], "expired": ["*"], "revoked": ["*"]}
    directory = write_keys_dir(keys, tmp_path / "keys", trust)
    with (directory / "trust.yaml").open("a") as out:
        out.write("    not_after: 2020-01-01\n")  # applies to the last key written: revoked
    problems, _ = check_keys(load_key_source(directory))
    found = {p.field: p.message for p in problems}
    assert found == {
        "keys.ecc": "the key is not RSA: EL6/EL7 clients cannot verify it",
        "keys.expired": "the key has expired: extend it (gpg --quick-set-expire) or rotate",
        "keys.revoked": "the key is revoked: remove it from trust.yaml",
    }


def test_retired_key(keys: Keys, tmp_path: Path) -> None:
    directory = write_keys_dir(keys, tmp_path / "keys", {"good": ["*"]})
    with (directory / "trust.yaml").open("a") as out:
        out.write("    not_after: 2020-01-01\n")
    (problem,), _ = check_keys(load_key_source(directory))
    assert problem.field == "keys.good"
    assert problem.message.startswith("its not_after date has passed")


def test_export_only_the_named_keys(keys: Keys, tmp_path: Path) -> None:
    directory = write_keys_dir(keys, tmp_path / "keys", {"good": ["*"], "el6": ["el6-*"]})
    exported = export_public_keys(load_key_source(directory), ("el6",))
    assert exported.startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----")
    home = new_home()
    try:
        listing = gpg(home, "--show-keys", "--with-colons", input=exported).decode()
    finally:
        destroy_home(home)
    records = [line.split(":")[0] for line in listing.splitlines()]
    assert "sec" not in records and "ssb" not in records
    assert keys.fpr["el6"] in listing and keys.fpr["good"] not in listing
