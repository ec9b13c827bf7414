"""Verification keys: keys dirs, single key files, status parsing, and the armor check."""

from __future__ import annotations

from pathlib import Path

import pytest

from release.errors import ConfigError, InvalidInput
from release.integrity.keyring import armor_problem, gpgv_argv, open_keyring, parse_status
from release.integrity.keysource import load_key_source
from tests.integrity.gpgkit import Keys, write_keys_dir

DATA = b"release bytes\n"


def test_keys_dir_loads_trust_and_keys(keys: Keys, keys_dir: Path) -> None:
    source = load_key_source(keys_dir)
    assert source.trust.allowed_fingerprints("el6-base") >= {keys.fpr["good"], keys.fpr["el6"]}
    assert keys.fpr["el6"] not in source.trust.allowed_fingerprints("el7-base")
    assert source.name_of(keys.fpr["el6"]) == "el6"
    assert source.key(keys.fpr["revoked"][-16:]) is not None
    revoked = source.key(keys.fpr["revoked"])
    assert revoked is not None and revoked.revoked


def test_private_key_in_keys_dir_is_a_loud_error(keys: Keys, keys_dir: Path) -> None:
    (keys_dir / "oops.asc").write_bytes(keys.secret["good"])
    with pytest.raises(InvalidInput, match=r"oops.asc: contains a PRIVATE key: remove it"):
        load_key_source(keys_dir)


def test_private_key_under_another_name_is_refused(keys: Keys, keys_dir: Path) -> None:
    (keys_dir / "backup.txt").write_bytes(keys.secret["good"])
    with pytest.raises(InvalidInput, match=r"backup.txt: contains a PRIVATE key"):
        load_key_source(keys_dir)


def test_missing_trust_file(keys: Keys, keys_dir: Path) -> None:
    (keys_dir / "trust.yaml").unlink()
    with pytest.raises(InvalidInput, match=r"trust.yaml: missing; a keys directory needs"):
        load_key_source(keys_dir)


def test_pinned_fingerprint_must_match_the_key_file(keys: Keys, tmp_path: Path) -> None:
    directory = write_keys_dir(keys, tmp_path / "keys", {"good": ["*"], "el6": ["el6-*"]})
    trust = (directory / "trust.yaml").read_text()
    (directory / "trust.yaml").write_text(trust.replace(keys.fpr["el6"], keys.fpr["good"]))
    with pytest.raises(ConfigError) as caught:
        load_key_source(directory)
    assert f"keys.el6.fingerprint: fingerprint {keys.fpr['good']} is not the primary key of" in str(
        caught.value
    )


def test_trust_file_errors_name_the_field(keys: Keys, tmp_path: Path) -> None:
    directory = write_keys_dir(keys, tmp_path / "keys", {"good": ["*"]})
    (directory / "trust.yaml").write_text(
        "keys:\n  good:\n    file: good.asc\n    fingerprint: 12\n"
    )
    with pytest.raises(ConfigError, match=r"keys.good.fingerprint"):
        load_key_source(directory)


def test_single_key_file_is_trusted_for_every_channel(keys: Keys, tmp_path: Path) -> None:
    key_file = tmp_path / "release.asc"
    key_file.write_bytes(keys.public["good"])
    source = load_key_source(key_file)
    assert source.trust.allowed_fingerprints("anything") == {keys.fpr["good"]}
    with open_keyring(source) as keyring:
        assert keyring.verify(DATA, keys.sign("good", DATA), "data", channel="el6-x").ok
        check = keyring.verify(DATA, keys.sign("el6", DATA), "data")
    assert not check.ok
    assert "(unknown signer)" in check.problems[0]


def test_keyring_never_uses_the_users_keyring(
    keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Even with GNUPGHOME pointing at a home that holds the signer's key, an untrusted
    # signer stays unknown: the keyring holds the given keys only.
    monkeypatch.setenv("GNUPGHOME", str(keys.home))
    key_file = tmp_path / "release.asc"
    key_file.write_bytes(keys.public["good"])
    with open_keyring(load_key_source(key_file)) as keyring:
        assert not keyring.verify(DATA, keys.sign("stranger", DATA), "data").ok


def test_gpgv_argv_pins_keyring_and_home(tmp_path: Path) -> None:
    argv = gpgv_argv(tmp_path, tmp_path / "k.gpg", Path("s.asc"), Path("d"))
    assert argv == [
        "gpgv", "--homedir", str(tmp_path), "--keyring", str(tmp_path / "k.gpg"),
        "--status-fd", "1", "s.asc", "d",
    ]  # fmt: skip


def test_parse_status_sees_every_signature() -> None:
    status = "\n".join(
        [
            "[GNUPG:] NEWSIG",
            "[GNUPG:] GOODSIG AAAA good",
            "[GNUPG:] VALIDSIG " + "A" * 40 + " 2026-11-24 1 0 4 0 1 10 00 " + "B" * 40,
            "[GNUPG:] NEWSIG",
            "[GNUPG:] BADSIG CCCC other",
            "gpgv: not a status line",
        ]
    )
    groups = parse_status(status)
    assert [next(iter(g)) for g in groups] == ["GOODSIG", "BADSIG"]
    assert groups[0]["VALIDSIG"][9] == "B" * 40


@pytest.mark.parametrize(
    ("signature", "problem"),
    [
        (b"", "is empty"),
        (b"\xff\xfe", "is not an ASCII-armored signature (binary or garbage)"),
        (
            b"-----BEGIN PGP MESSAGE-----\n",
            "does not start with '-----BEGIN PGP SIGNATURE-----' (garbage or wrong file)",
        ),
        (
            b"-----BEGIN PGP SIGNATURE-----\n\nAA==\n-----END PGP SIGNATURE-----\nextra\n",
            "has text after '-----END PGP SIGNATURE-----' or more than one armor block",
        ),
        (
            b"-----BEGIN PGP SIGNATURE-----\n\nAA==\n-----END PGP SIGNATURE-----\n" * 2,
            "has text after '-----END PGP SIGNATURE-----' or more than one armor block",
        ),
        (b"-----BEGIN PGP SIGNATURE-----\n\nAA==\n-----END PGP SIGNATURE-----\n", None),
    ],
)
def test_armor_problem(signature: bytes, problem: str | None) -> None:
    assert armor_problem(signature) == problem
