"""OpenPGP keys as gpg describes them (`--show-keys --with-colons`), without a keyring."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from release import runner
from release.errors import InvalidInput
from release.integrity.gpghome import temporary_home

RSA_ALGORITHMS = {1, 2, 3}
_SECRET_ARMOR = b"-----BEGIN PGP PRIVATE KEY BLOCK-----"
_PUBLIC_ARMOR = b"-----BEGIN PGP PUBLIC KEY BLOCK-----"


def looks_secret(data: bytes) -> bool:
    """An armored or binary OpenPGP secret key (packet tags 5 and 7), without asking gpg."""
    if _SECRET_ARMOR in data:
        return True
    if not data or not data[0] & 0x80:
        return False
    first = data[0]
    tag = (first & 0x3F) if first & 0x40 else ((first >> 2) & 0x0F)
    return tag in (5, 7)


def is_armored_public(data: bytes) -> bool:
    return data.lstrip().startswith(_PUBLIC_ARMOR)


@dataclass(frozen=True)
class KeyInfo:
    """One OpenPGP key as `gpg --show-keys --with-colons` describes it."""

    fingerprint: str
    algorithm: int
    bits: int
    created: dt.datetime
    expires: dt.datetime | None
    validity: str
    secret: bool
    uids: tuple[str, ...] = ()
    subkeys: tuple[str, ...] = ()

    @property
    def revoked(self) -> bool:
        return self.validity == "r"

    def expired(self, now: dt.datetime | None = None) -> bool:
        now = now or dt.datetime.now(dt.UTC)
        return self.validity == "e" or (self.expires is not None and self.expires <= now)

    @property
    def is_rsa(self) -> bool:
        return self.algorithm in RSA_ALGORITHMS

    @property
    def user(self) -> str:
        return self.uids[0] if self.uids else self.fingerprint


def colons_argv(home: Path, *command: str) -> list[str]:
    """A gpg listing in machine-readable colon form, in `home` only."""
    return [
        "gpg",
        "--homedir",
        str(home),
        "--batch",
        "--no-tty",
        "--with-colons",
        "--fixed-list-mode",
        *command,
    ]


def show_keys_argv(home: Path, key_file: Path) -> list[str]:
    return colons_argv(home, "--show-keys", str(key_file))


def _when(field_value: str) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(int(field_value), dt.UTC) if field_value else None


@dataclass
class _KeyBuilder:
    record: list[str]
    fingerprint: str = ""
    secret: bool = False
    uids: list[str] = field(default_factory=list)
    subkeys: list[str] = field(default_factory=list)

    def build(self) -> KeyInfo:
        created = _when(self.record[5])
        return KeyInfo(
            fingerprint=self.fingerprint,
            algorithm=int(self.record[3] or 0),
            bits=int(self.record[2] or 0),
            created=created or dt.datetime.fromtimestamp(0, dt.UTC),
            expires=_when(self.record[6]),
            validity=self.record[1],
            secret=self.secret or self.record[0] == "sec",
            uids=tuple(self.uids),
            subkeys=tuple(self.subkeys),
        )


def parse_colons(text: str) -> list[KeyInfo]:
    """Keys from gpg's colon listing: pub/sec starts a key, the next fpr is its fingerprint."""
    keys: list[_KeyBuilder] = []
    expecting: str | None = None  # which record the next fpr line belongs to
    for line in text.splitlines():
        fields = line.split(":")
        kind = fields[0]
        if kind in ("pub", "sec") and len(fields) > 6:
            keys.append(_KeyBuilder(fields))
            expecting = "primary"
        elif kind in ("sub", "ssb") and keys:
            keys[-1].secret = keys[-1].secret or kind == "ssb"
            expecting = "subkey"
        elif kind == "fpr" and keys and expecting and len(fields) > 9:
            if expecting == "primary":
                keys[-1].fingerprint = fields[9]
            else:
                keys[-1].subkeys.append(fields[9])
            expecting = None
        elif kind == "uid" and keys and len(fields) > 9:
            keys[-1].uids.append(fields[9])
    return [key.build() for key in keys if key.fingerprint]


def read_key_bytes(data: bytes) -> list[KeyInfo]:
    """The keys in `data` (empty when gpg finds none)."""
    with temporary_home() as home:
        key_file = home / "key"
        key_file.write_bytes(data)
        result = runner.run(show_keys_argv(home, key_file), check=False, timeout=60)
    return parse_colons(result.text) if result.returncode == 0 else []


def read_key_file(path: Path) -> list[KeyInfo]:
    with temporary_home() as home:
        result = runner.run(show_keys_argv(home, path.resolve()), check=False, timeout=60)
    keys = parse_colons(result.text)
    if result.returncode != 0 or not keys:
        raise InvalidInput(f"{path}: not an OpenPGP public key file (gpg --show-keys found no key)")
    return keys
