"""A writer whose index lock was taken from it: it stalled past its lease (its heartbeat too),
another writer broke the lock and wrote, then it resumes where it stopped, about to write.

It must meet `Changed` for what it read, not mistake the other writer's index for its own
write, and recompute on top of it; afterwards every index on the target verifies against its
own `.asc` and the snapshot lists the index that is there. Real S3 (moto), real gpg."""

from __future__ import annotations

import hashlib
import threading
import uuid
from pathlib import Path

import boto3
import pytest

from release.channels import index as idx
from release.channels.indexwriter import write_index
from release.integrity.keyring import open_keyring
from release.integrity.keysource import load_key_source
from release.integrity.signing import Signer, SigningConfig, open_signer
from release.model.target import S3Target
from release.publish import indexstore
from release.publish.indexstore import IndexStore
from release.publish.targets import open_index_store
from tests.integrity.gpgkit import Keys, write_keys_dir
from tests.publish.conftest import S3Server

CHANNEL = "fx-stable"
INDEX = idx.INDEX_PATH.format(channel=CHANNEL)
TTL = 86400


def _release(version: str) -> idx.IndexedRelease:
    digest = hashlib.sha256(version.encode()).hexdigest()
    return idx.IndexedRelease(image="fx", version=version, path=f"fx/{version}",
                              manifest_sha256=digest)  # fmt: skip


class StallingSigner:
    """Signs for real, but the first signature waits until `resume` is set (a writer stopped
    by the scheduler, a GC pause, a suspended VM), telling the test it stopped."""

    def __init__(self, signer: Signer) -> None:
        self._signer = signer
        self.stopped = threading.Event()
        self.resume = threading.Event()

    @property
    def fingerprint(self) -> str:
        return self._signer.fingerprint

    def sign_detached(self, data: bytes) -> bytes:
        signature = self._signer.sign_detached(data)
        if not self.stopped.is_set():
            self.stopped.set()
            assert self.resume.wait(60)
        return signature

    def public_key(self) -> bytes:
        return self._signer.public_key()


@pytest.fixture
def store(aws_env: dict[str, str], moto_server: S3Server) -> IndexStore:
    bucket = f"b{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_server.endpoint).create_bucket(Bucket=bucket)
    return open_index_store(
        S3Target(type="s3", bucket=bucket, prefix="m", endpoint_url=moto_server.endpoint)
    )


def test_a_writer_resuming_after_its_lease_was_broken_does_not_take_the_others_write(
    store: IndexStore, keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(indexstore, "LEASE", 1.0)
    monkeypatch.setattr(indexstore, "REFRESH", 3600.0)  # the stalled writer's heartbeat stalls
    config = SigningConfig(gnupghome=keys.home, fingerprint=keys.fpr["good"], key_env=None)
    with open_signer(config) as signer:
        with store.lock():
            write_index(store, CHANNEL, _release("1.0"), TTL, signer)  # serial 1
        stalling = StallingSigner(signer)
        failures: list[BaseException] = []

        def stalled_writer() -> None:
            try:
                with store.lock():
                    write_index(store, CHANNEL, _release("2.0"), TTL, stalling)
            except BaseException as exc:  # reported by the test thread
                failures.append(exc)

        writer = threading.Thread(target=stalled_writer)
        writer.start()
        assert stalling.stopped.wait(60), "the first writer never reached its signature"
        with store.lock():  # waits out the lease, breaks the lock, writes serial 2
            other = write_index(store, CHANNEL, _release("3.0"), TTL, signer)
        stalling.resume.set()
        writer.join(60)
    assert not writer.is_alive() and failures == []
    assert other == 2
    final = store.read(INDEX)
    assert final is not None
    index = idx.parse_index(final.data)
    assert index.serial == 3, "the resumed writer must recompute on top of serial 2"
    assert index.current.version == "2.0" and index.history[0].version == "3.0"
    _assert_signed_and_listed(store, keys, tmp_path)


def _assert_signed_and_listed(store: IndexStore, keys: Keys, tmp_path: Path) -> None:
    """Each document verifies against its own .asc; the snapshot lists the index there."""
    source = load_key_source(write_keys_dir(keys, tmp_path / "keys", {"good": ["*"]}))
    documents = {}
    with open_keyring(source) as keyring:
        for name in (INDEX, idx.SNAPSHOT_PATH):
            data, signature = store.read(name), store.read(name + ".asc")
            assert data is not None and signature is not None, name
            check = keyring.verify(data.data, signature.data, name, None)
            assert check.ok, f"{name} and its .asc do not match: {check.problems}"
            documents[name] = data.data
    snapshot = idx.Snapshot.model_validate_json(documents[idx.SNAPSHOT_PATH])
    assert snapshot.indexes == {CHANNEL: idx.sha256_hex(documents[INDEX])}
