"""Signing release files: the Signer interface and its gpg implementation (python-gnupg).

The key comes from an existing GNUPGHOME + fingerprint, or from an ASCII-armored private key
in an environment variable (a CI secret), imported for each signature into a temporary home
destroyed right after (signals included: `gpghome.temporary_home`).
The passphrase comes from an environment variable or a file and reaches gpg on stdin
(loopback pinentry), never argv. gpg may silently sign with another secret key than the one
asked for, so every signature's fingerprint is checked against the configured key.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import gnupg

from release import runner
from release.errors import InvalidInput, OperationError
from release.integrity.gpghome import temporary_home
from release.integrity.keyinfo import KeyInfo, colons_argv, parse_colons
from release.model.trust import normalize_fingerprint

log = logging.getLogger(__name__)

EXPIRY_WARNING = dt.timedelta(days=30)


@dataclass(frozen=True)
class SigningConfig:
    """Where the signing key and its passphrase come from."""

    gnupghome: Path | None = None
    fingerprint: str | None = None
    key_env: str | None = "RELEASE_SIGNING_KEY"
    passphrase_env: str | None = "RELEASE_SIGNING_PASSPHRASE"  # noqa: S105 - a variable name
    passphrase_file: Path | None = None


class Signer(Protocol):
    """Makes detached ASCII-armored signatures with one pinned key."""

    @property
    def fingerprint(self) -> str: ...

    def sign_detached(self, data: bytes) -> bytes: ...

    def public_key(self) -> bytes: ...


def list_secret_argv(home: Path) -> list[str]:
    return colons_argv(home, "--list-secret-keys")


def key_problem(key: KeyInfo, now: dt.datetime) -> str | None:
    """Why `key` must not sign, or None. Pure, so every refusal is cheap to test."""
    if key.revoked:
        return f"signing key {key.fingerprint} is revoked: sign with its successor"
    if key.expired(now):
        return (
            f"signing key {key.fingerprint} expired on {key.expires:%Y-%m-%d}: extend or rotate it"
        )
    if not key.is_rsa:
        return (
            f"signing key {key.fingerprint} is not RSA (algorithm {key.algorithm}): EL6/EL7 clients"
            " (gpg 2.0) cannot verify ECC signatures; use an RSA-4096 key"
        )
    return None


def expiry_warning(key: KeyInfo, now: dt.datetime) -> str | None:
    if key.expires is not None and key.expires - now <= EXPIRY_WARNING:
        days = (key.expires - now).days
        return (
            f"signing key {key.fingerprint} expires on {key.expires:%Y-%m-%d} (in {days} days):"
            " extend it or rotate to a new key"
        )
    return None


class GpgSigner:
    """Signs with one secret key of one GnuPG home."""

    def __init__(self, home: Path, key: KeyInfo, passphrase: str | None) -> None:
        self._gpg = gnupg.GPG(gnupghome=str(home))
        self._key = key
        self._passphrase = passphrase or None

    @property
    def fingerprint(self) -> str:
        return self._key.fingerprint

    def sign_detached(self, data: bytes) -> bytes:
        result = self._gpg.sign(
            data,
            keyid=self._key.fingerprint,
            detach=True,
            binary=False,
            passphrase=self._passphrase,
            extra_args=["--digest-algo", "SHA256"],
        )
        made_by = result.fingerprint
        if not made_by:
            raise OperationError(
                f"gpg could not sign with {self._key.fingerprint}: {result.status or 'no reason'}"
                " (wrong passphrase? set RELEASE_SIGNING_PASSPHRASE or a passphrase file)"
            )
        if made_by not in (self._key.fingerprint, *self._key.subkeys):
            raise OperationError(
                f"gpg signed with {made_by}, not with the configured key {self._key.fingerprint}:"
                " the configured key is unusable; signature discarded"
            )
        return str(result).encode("ascii")

    def public_key(self) -> bytes:
        exported: str = self._gpg.export_keys(self._key.fingerprint, armor=True)
        return exported.encode("ascii")


def _secret_keys(home: Path) -> list[KeyInfo]:
    result = runner.run(list_secret_argv(home), check=False, timeout=60)
    return [key for key in parse_colons(result.text) if key.secret]


def _choose(keys: list[KeyInfo], fingerprint: str | None, origin: str) -> KeyInfo:
    if fingerprint is not None:
        for key in keys:
            if key.fingerprint == fingerprint:
                return key
        raise InvalidInput(f"{origin} has no secret key {fingerprint}")
    if len(keys) != 1:
        found = ", ".join(k.fingerprint for k in keys) or "none"
        raise InvalidInput(
            f"{origin} holds {len(keys)} secret keys ({found}): configure the fingerprint to use"
        )
    return keys[0]


def _passphrase(config: SigningConfig) -> str | None:
    if config.passphrase_env and os.environ.get(config.passphrase_env):
        return os.environ[config.passphrase_env]
    if config.passphrase_file is not None:
        try:
            return config.passphrase_file.read_text(encoding="utf-8").rstrip("\n")
        except OSError as error:
            raise InvalidInput(
                f"passphrase file {config.passphrase_file}: {error.strerror}"
            ) from None
    return None


def _checked(key: KeyInfo) -> KeyInfo:
    now = dt.datetime.now(dt.UTC)
    problem = key_problem(key, now)
    if problem:
        raise InvalidInput(problem)
    warning = expiry_warning(key, now)
    if warning:
        log.warning("warning: %s", warning)
    return key


class ImportingSigner:
    """Signs with a private key held in memory (a CI secret): each signature imports it into a
    fresh temporary home destroyed right after, so the key is on disk only while gpg signs."""

    def __init__(self, armored: str, key: KeyInfo, passphrase: str | None, public: bytes) -> None:
        self._armored = armored
        self._key = key
        self._passphrase = passphrase
        self._public = public

    @property
    def fingerprint(self) -> str:
        return self._key.fingerprint

    def sign_detached(self, data: bytes) -> bytes:
        with temporary_home("rel-sign-") as home:
            gnupg.GPG(gnupghome=str(home)).import_keys(self._armored)
            return GpgSigner(home, self._key, self._passphrase).sign_detached(data)

    def public_key(self) -> bytes:
        return self._public


def _imported_key(armored: str, fingerprint: str | None, key_env: str) -> tuple[KeyInfo, bytes]:
    """The checked secret key in `armored` and its public half, read in a home that is gone
    when this returns."""
    with temporary_home("rel-sign-") as home:
        imported = gnupg.GPG(gnupghome=str(home)).import_keys(armored)
        keys = _secret_keys(home)
        if not keys:
            raise InvalidInput(
                f"${key_env} holds no private key gpg can import"
                f" ({imported.results[-1].get('text', 'no detail') if imported.results else ''})"
            )
        key = _checked(_choose(keys, fingerprint, f"${key_env}"))
        return key, GpgSigner(home, key, None).public_key()


@contextlib.contextmanager
def open_signer(config: SigningConfig) -> Iterator[Signer]:
    """A signer for `config`. A key from the environment is never left on disk: it is
    imported for each signature into a temporary home removed on every exit path."""
    fingerprint = normalize_fingerprint(config.fingerprint) if config.fingerprint else None
    passphrase = _passphrase(config)
    if config.gnupghome is not None:
        if fingerprint is None:
            raise InvalidInput(
                f"signing with GNUPGHOME {config.gnupghome} needs the key's fingerprint"
            )
        key = _checked(_choose(_secret_keys(config.gnupghome), fingerprint, str(config.gnupghome)))
        yield GpgSigner(config.gnupghome, key, passphrase)
        return
    key_env = config.key_env or "RELEASE_SIGNING_KEY"
    armored = os.environ.get(key_env, "") if config.key_env else ""
    if not armored.strip():
        raise InvalidInput(
            "no signing key: set a GNUPGHOME and fingerprint, or put an ASCII-armored private"
            f" key in ${key_env}"
        )
    key, public = _imported_key(armored, fingerprint, key_env)
    yield ImportingSigner(armored, key, passphrase, public)
