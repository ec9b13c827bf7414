"""Whether a document on a mirror was signed by a key the trust file allows *now*.

What the publisher may build on: reconcile counts a channel's index as in place only when it
is (a key retired or revoked since, or a thief with a stolen key, leaves an index clients
refuse: it is rewritten), and resign re-signs only such an index, so the new key never signs
what someone else wrote on the mirror.

A verdict is cached (optional file) under a digest of the keys directory, today's date (the
`not_after` rule), the channel and the exact bytes of the document and its signature: a no-op
reconcile then runs no gpgv, and any change to the keys or the bytes is checked afresh.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

from release import fsutil
from release.channels import index as idx
from release.errors import VerificationError
from release.integrity.keyring import Keyring, open_keyring
from release.integrity.keysource import load_key_source
from release.publish.indexstore import IndexStore, Stored

UNTRUSTED = (
    "not signed by a key keys/trust.yaml allows now (retired, revoked, or not ours): left"
    " alone, never re-signed; 'release reconcile' rewrites it from git"
)
log = logging.getLogger(__name__)
CACHE_LIMIT = 20_000  # verdicts kept (a few per channel and target)


class Untrusted(VerificationError):
    """A published index no trusted key signed: it must not be re-signed (exit 3)."""


def keys_digest(keys: Path, today: dt.date) -> str:
    """What a verdict depends on besides the document: every file of keys/, and the day."""
    digest = hashlib.sha256(today.isoformat().encode())
    for path in sorted(p for p in keys.iterdir() if p.is_file()):
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


class Voucher:
    """Judges documents against the keys directory `keys`; builds its keyring only on a miss."""

    def __init__(self, keys: Path, stack: contextlib.ExitStack, cache: Path | None) -> None:
        self._keys = keys if keys.is_dir() else None
        self._stack = stack
        self._cache = cache
        self._keyring: Keyring | None = None
        self._known: list[str] = _load(cache) if cache and self._keys else []
        self._seen = set(self._known)
        self._loaded = len(self._known)
        self._base = keys_digest(keys, dt.datetime.now(dt.UTC).date()) if self._keys else ""

    def vouched(self, store: IndexStore, name: str, data: bytes, channel: str | None) -> bool:
        """Whether `data`, stored as `name`, has a signature (`name.asc`) by a key the trust
        file allows now for `channel` (None: any trusted key, as for the snapshot)."""
        if self._keys is None:
            return False
        signature = store.read(name + ".asc")
        if signature is None:
            return False
        parts = (self._base, channel or "", name, data, signature.data)
        key = hashlib.sha256(b"\0".join(p if isinstance(p, bytes) else p.encode() for p in parts))
        if key.hexdigest() in self._seen:
            return True
        if self._keyring is None:
            self._keyring = self._stack.enter_context(open_keyring(load_key_source(self._keys)))
        ok = self._keyring.verify(data, signature.data, name, channel).ok
        if ok:
            self._known.append(key.hexdigest())
            self._seen.add(key.hexdigest())
        return ok

    def save(self) -> None:
        """Write the verdicts if there are new ones (best effort: a cache, not a record)."""
        if self._cache is None or self._keys is None or len(self._known) == self._loaded:
            return
        text = json.dumps({"vouched": self._known[-CACHE_LIMIT:]}) + "\n"
        try:
            self._cache.parent.mkdir(parents=True, exist_ok=True)
            fsutil.write_text(self._cache, text)
        except OSError as exc:
            log.warning("%s: cannot remember trust verdicts: %s", self._cache, exc.strerror)


def _load(cache: Path) -> list[str]:
    try:
        known = json.loads(cache.read_text(encoding="utf-8"))["vouched"]
    except (OSError, ValueError, KeyError, TypeError):
        return []  # no cache, or a broken one: judge everything again
    return [k for k in known if isinstance(k, str)] if isinstance(known, list) else []


@contextlib.contextmanager
def voucher(repo: Path, cache: Path | None = None) -> Iterator[Voucher]:
    """A Voucher for the config repo's keys/ (none there: nothing is vouched for)."""
    with contextlib.ExitStack() as stack:
        judge = Voucher(repo / "keys", stack, cache)
        yield judge
        judge.save()


def vouched_index(judge: Voucher, store: IndexStore, channel: str, stored: Stored | None) -> bool:
    if stored is None:
        return False
    return judge.vouched(store, idx.INDEX_PATH.format(channel=channel), stored.data, channel)


def vouched_snapshot(judge: Voucher, store: IndexStore) -> idx.Snapshot | None:
    """The target's snapshot if a trusted key signed it, else None (to be rewritten)."""
    stored = store.read(idx.SNAPSHOT_PATH)
    if stored is None or not judge.vouched(store, idx.SNAPSHOT_PATH, stored.data, None):
        return None
    try:
        return idx.Snapshot.model_validate_json(stored.data)
    except ValueError:
        return None
