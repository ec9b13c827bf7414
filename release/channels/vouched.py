"""Whether a document on a mirror was signed by a key the trust file allows *now*.

What the publisher may build on: reconcile counts a channel's index as in place only when it
is (a key retired or revoked since, or a thief with a stolen key, leaves an index clients
refuse: it is rewritten), and resign re-signs only such an index, so the new key never signs
what someone else wrote on the mirror.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from release.channels import index as idx
from release.errors import VerificationError
from release.integrity.keyring import Keyring, open_keyring
from release.integrity.keysource import load_key_source
from release.publish.indexstore import IndexStore, Stored

UNTRUSTED = (
    "not signed by a key keys/trust.yaml allows now (retired, revoked, or not ours): left"
    " alone, never re-signed; 'release reconcile' rewrites it from git"
)


class Untrusted(VerificationError):
    """A published index no trusted key signed: it must not be re-signed (exit 3)."""


@contextlib.contextmanager
def publisher_keyring(repo: Path) -> Iterator[Keyring | None]:
    """The keyring of the config repo's keys/ (None without one: nothing is vouched for)."""
    if not (repo / "keys").is_dir():
        yield None
        return
    with open_keyring(load_key_source(repo / "keys")) as keyring:
        yield keyring


def vouched(
    keyring: Keyring | None, store: IndexStore, name: str, data: bytes, channel: str | None
) -> bool:
    """Whether `data`, stored as `name`, has a signature (`name.asc`) by a key the trust file
    allows now for `channel` (None: any trusted key, as for the snapshot)."""
    if keyring is None:
        return False
    signature = store.read(name + ".asc")
    return signature is not None and keyring.verify(data, signature.data, name, channel).ok


def vouched_index(
    keyring: Keyring | None, store: IndexStore, channel: str, stored: Stored | None
) -> bool:
    if stored is None:
        return False
    return vouched(keyring, store, idx.INDEX_PATH.format(channel=channel), stored.data, channel)


def vouched_snapshot(keyring: Keyring | None, store: IndexStore) -> idx.Snapshot | None:
    """The target's snapshot if a trusted key signed it, else None (to be rewritten)."""
    stored = store.read(idx.SNAPSHOT_PATH)
    if stored is None or not vouched(keyring, store, idx.SNAPSHOT_PATH, stored.data, None):
        return None
    try:
        return idx.Snapshot.model_validate_json(stored.data)
    except ValueError:
        return None
