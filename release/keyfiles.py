"""What a key file holds (public or secret, fingerprints, algorithms), read with gpg itself.

`gpg --show-keys` parses without importing anything; it runs in a throwaway home so the
user's keyring is never touched.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from release import runner
from release.errors import ToolError

_SECRET_ARMOR = b"-----BEGIN PGP PRIVATE KEY BLOCK-----"
_PUBLIC_ARMOR = b"-----BEGIN PGP PUBLIC KEY BLOCK-----"
RSA_ALGOS = {"1", "2", "3"}


@dataclass(frozen=True)
class KeyInfo:
    fingerprints: tuple[str, ...]  # primary key fingerprints, upper-case hex
    algorithms: tuple[str, ...]  # OpenPGP algorithm ids of the primary keys
    uids: tuple[str, ...]


def looks_secret(data: bytes) -> bool:
    """An armored or binary OpenPGP secret key (packet tags 5 and 7)."""
    if _SECRET_ARMOR in data:
        return True
    if not data:
        return False
    first = data[0]
    if not first & 0x80:
        return False
    tag = (first & 0x3F) if first & 0x40 else ((first >> 2) & 0x0F)
    return tag in (5, 7)


def is_armored_public(data: bytes) -> bool:
    return data.lstrip().startswith(_PUBLIC_ARMOR)


def inspect(data: bytes) -> KeyInfo | None:
    """The keys in `data`, or None when gpg finds no key in it."""
    home = Path(tempfile.mkdtemp(prefix="rk-", dir="/tmp"))
    try:
        home.chmod(0o700)
        result = runner.run(
            ["gpg", "--batch", "--no-tty", "--with-colons", "--show-keys"],
            input=data,
            env={"GNUPGHOME": str(home)},
            check=False,
        )
    except ToolError:
        return None
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if result.returncode != 0:
        return None
    return _parse_colons(result.text)


def _parse_colons(text: str) -> KeyInfo | None:
    fprs: list[str] = []
    algos: list[str] = []
    uids: list[str] = []
    expect_fpr = False
    for line in text.splitlines():
        fields = line.split(":")
        if fields[0] in ("pub", "sec"):
            algos.append(fields[3])
            expect_fpr = True
        elif fields[0] == "fpr" and expect_fpr:
            fprs.append(fields[9].upper())
            expect_fpr = False
        elif fields[0] == "uid":
            uids.append(fields[9])
        elif fields[0] == "sub":
            expect_fpr = False
    if not fprs:
        return None
    return KeyInfo(tuple(fprs), tuple(algos), tuple(uids))
