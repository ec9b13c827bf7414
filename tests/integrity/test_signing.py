"""The gpg signer: key sources, passphrases, and every key it must refuse."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from release.errors import InvalidInput, OperationError
from release.integrity import gpghome, signing
from release.integrity.keyinfo import KeyInfo
from release.integrity.keyring import open_keyring
from release.integrity.keysource import load_key_source
from release.integrity.signing import (
    GpgSigner,
    SigningConfig,
    _secret_keys,
    expiry_warning,
    key_problem,
    open_signer,
)
from tests.integrity.gpgkit import PASSPHRASE, Keys

DATA = b"0123  some-file\n"


def verifies_with(keys: Keys, name: str, signature: bytes, tmp_path: Path) -> bool:
    key_file = tmp_path / f"{name}.pub.asc"
    key_file.write_bytes(keys.public[name])
    with open_keyring(load_key_source(key_file)) as keyring:
        return keyring.verify(DATA, signature, "data").ok


def test_sign_from_existing_home_with_fingerprint(keys: Keys, tmp_path: Path) -> None:
    # The home holds several secret keys: only the configured one may sign.
    config = SigningConfig(gnupghome=keys.home, fingerprint=keys.fpr["el6"])
    with open_signer(config) as signer:
        signature = signer.sign_detached(DATA)
    assert signature.startswith(b"-----BEGIN PGP SIGNATURE-----")
    assert verifies_with(keys, "el6", signature, tmp_path)
    assert not verifies_with(keys, "good", signature, tmp_path)


def test_home_without_fingerprint_is_refused(keys: Keys) -> None:
    with (
        pytest.raises(InvalidInput, match="needs the key's fingerprint"),
        open_signer(SigningConfig(gnupghome=keys.home)),
    ):
        pass


def test_unknown_fingerprint_is_refused(keys: Keys) -> None:
    config = SigningConfig(gnupghome=keys.home, fingerprint="0" * 40)
    with (
        pytest.raises(InvalidInput, match=f"{keys.home} has no secret key 0000"),
        open_signer(config),
    ):
        pass


def test_key_from_environment_with_passphrase(
    keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELEASE_SIGNING_KEY", keys.secret["protected"].decode())
    monkeypatch.setenv("RELEASE_SIGNING_PASSPHRASE", PASSPHRASE)
    homes = _record_homes(monkeypatch)
    with open_signer(SigningConfig()) as signer:
        assert signer.fingerprint == keys.fpr["protected"]
        assert [h.exists() for h in homes] == [False], "the key is on disk only while it signs"
        signature = signer.sign_detached(DATA)
        assert len(homes) == 2 and not homes[1].exists(), "one home per signature, then gone"
        assert not _agents(homes), "the temporary home's gpg-agent must be stopped"
    assert all(h.parent == Path("/tmp") for h in homes)  # short paths: gpg's socket limit
    assert verifies_with(keys, "protected", signature, tmp_path)
    assert signer.public_key().startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----")


def _record_homes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The signer's temporary homes, in the order it makes them."""
    homes: list[Path] = []

    @contextlib.contextmanager
    def recorded(prefix: str) -> Iterator[Path]:
        with gpghome.temporary_home(prefix) as home:
            homes.append(home)
            yield home

    monkeypatch.setattr(signing, "temporary_home", recorded)
    return homes


def test_passphrase_from_file(keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI_KEY", keys.secret["protected"].decode())
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    config = SigningConfig(key_env="CI_KEY", passphrase_env=None, passphrase_file=secret)
    with open_signer(config) as signer:
        assert verifies_with(keys, "protected", signer.sign_detached(DATA), tmp_path)


def test_wrong_passphrase(keys: Keys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELEASE_SIGNING_KEY", keys.secret["protected"].decode())
    monkeypatch.setenv("RELEASE_SIGNING_PASSPHRASE", "wrong")
    with (
        open_signer(SigningConfig()) as signer,
        pytest.raises(OperationError, match="could not sign"),
    ):
        signer.sign_detached(DATA)


def test_no_key_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELEASE_SIGNING_KEY", raising=False)
    with (
        pytest.raises(InvalidInput, match=r"no signing key: .*\$RELEASE_SIGNING_KEY"),
        open_signer(SigningConfig()),
    ):
        pass


def test_public_key_in_environment_is_refused(keys: Keys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELEASE_SIGNING_KEY", keys.public["good"].decode())
    with pytest.raises(InvalidInput, match="holds no private key"), open_signer(SigningConfig()):
        pass


def test_expired_key_is_refused(keys: Keys) -> None:
    config = SigningConfig(gnupghome=keys.home, fingerprint=keys.fpr["expired"])
    with pytest.raises(InvalidInput, match="expired on 2024-02-01"), open_signer(config):
        pass


def test_revoked_key_is_refused(keys: Keys) -> None:
    config = SigningConfig(gnupghome=keys.revoked_home, fingerprint=keys.fpr["revoked"])
    with pytest.raises(InvalidInput, match="is revoked"), open_signer(config):
        pass


def test_ecc_key_is_refused(keys: Keys) -> None:
    config = SigningConfig(gnupghome=keys.home, fingerprint=keys.fpr["ecc"])
    with pytest.raises(InvalidInput, match=r"is not RSA .*EL6/EL7"), open_signer(config):
        pass


def test_key_expiring_soon_warns(keys: Keys, caplog: pytest.LogCaptureFixture) -> None:
    config = SigningConfig(gnupghome=keys.home, fingerprint=keys.fpr["soon"])
    with caplog.at_level(logging.WARNING), open_signer(config) as signer:
        assert signer.sign_detached(DATA)
    assert f"signing key {keys.fpr['soon']} expires on" in caplog.text
    assert "extend it or rotate" in caplog.text


def _key(**changes: object) -> KeyInfo:
    base: dict[str, object] = {
        "fingerprint": "A" * 40,
        "algorithm": 1,
        "bits": 4096,
        "created": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        "expires": None,
        "validity": "u",
        "secret": True,
    }
    base.update(changes)
    return KeyInfo(**base)  # type: ignore[arg-type]


def test_key_rules_without_gpg() -> None:
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    assert key_problem(_key(), now) is None
    assert "revoked" in (key_problem(_key(validity="r"), now) or "")
    assert "expired" in (key_problem(_key(expires=now - dt.timedelta(seconds=1)), now) or "")
    assert "not RSA" in (key_problem(_key(algorithm=22), now) or "")
    assert expiry_warning(_key(expires=now + dt.timedelta(days=31)), now) is None
    assert "in 29 days" in (
        expiry_warning(_key(expires=now + dt.timedelta(days=29, hours=1)), now) or ""
    )


def _agents(homes: list[Path]) -> set[str]:
    """Running gpg-agents serving one of `homes`."""
    out = subprocess.run(["pgrep", "-a", "gpg-agent"], capture_output=True, text=True, check=False)
    return {line for line in out.stdout.splitlines() if any(str(h) in line for h in homes)}


def test_signature_by_another_key_is_discarded(keys: Keys) -> None:
    """gpg falls back silently to another secret key when --default-key is unusable."""
    expired = next(k for k in _secret_keys(keys.home) if k.fingerprint == keys.fpr["expired"])
    signer = GpgSigner(keys.home, expired, None)  # past open_signer's checks, on purpose
    with pytest.raises(OperationError) as caught:
        signer.sign_detached(DATA)
    message = str(caught.value)
    assert message.startswith("gpg signed with ")
    assert f"not with the configured key {keys.fpr['expired']}" in message
    assert "signature discarded" in message
