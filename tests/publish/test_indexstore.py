"""Compare-and-swap and the index lock of each index store, against real storage (moto S3)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from release.errors import OperationError
from release.model.target import FilesystemTarget, GcsTarget, RsyncTarget, S3Target
from release.owner import owner_id
from release.publish import indexstore
from release.publish.indexstore import Changed, IndexStore, signed_write
from release.publish.retry import Transient
from release.publish.rsyncindex import pull_argv, put_argv
from release.publish.targets import open_index_store
from tests.conftest import dead_owner
from tests.faultproxy import Fault, FaultProxy
from tests.publish.conftest import GcsServer, RsyncDaemon, S3Server


def test_rsync_argv() -> None:
    assert pull_argv(None, "rsync://h/m/channels/a.json", Path("/t")) == [
        "rsync", "--timeout=120", "--no-motd", "rsync://h/m/channels/a.json", "/t/"
    ]  # fmt: skip
    argv = put_argv(["ssh", "-p", "2222"], Path("/t"), "host:/srv")
    assert argv[:5] == ["rsync", "--timeout=120", "--no-motd", "-e", "ssh -p 2222"]
    assert "--delay-updates" in argv and "--ignore-existing" not in argv  # indexes get replaced
    assert "--ignore-times" in argv  # same size, same second: still sent
    assert argv[-2:] == ["/t/", "host:/srv/"]


def test_rsync_compare_and_swap(rsyncd: RsyncDaemon) -> None:
    store = open_index_store(RsyncTarget(type="rsync", url=rsyncd.url("/pub")))
    (rsyncd.root / "pub").mkdir()
    assert store.read("channels/a.json") is None
    store.write("channels/a.json", b"one", None)
    assert (rsyncd.root / "pub/channels/a.json").read_bytes() == b"one"
    first = store.read("channels/a.json")
    assert first is not None and first.data == b"one"
    store.write("channels/a.json", b"two", first)
    with pytest.raises(Changed):
        store.write("channels/a.json", b"three", first)
    assert (rsyncd.root / "pub/channels/a.json").read_bytes() == b"two"


@pytest.fixture(params=["filesystem", "s3", "gcs"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> IndexStore:
    if request.param == "filesystem":
        return open_index_store(FilesystemTarget(type="filesystem", path=str(tmp_path / "m")))
    if request.param == "gcs":
        gcs: GcsServer = request.getfixturevalue("fake_gcs")
        name = f"b{uuid.uuid4().hex[:12]}"
        gcs.client().create_bucket(name)
        return open_index_store(
            GcsTarget(type="gcs", bucket=name, prefix="p", endpoint_url=gcs.endpoint)
        )
    request.getfixturevalue("aws_env")
    server: S3Server = request.getfixturevalue("moto_server")
    bucket = f"b{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=server.endpoint).create_bucket(Bucket=bucket)
    target = S3Target(type="s3", bucket=bucket, prefix="p", endpoint_url=server.endpoint)
    return open_index_store(target)


def test_compare_and_swap(store: IndexStore) -> None:
    assert store.read("channels/a.json") is None
    store.write("channels/a.json", b"one", None)
    with pytest.raises(Changed):
        store.write("channels/a.json", b"again", None)  # create-only: it exists now
    first = store.read("channels/a.json")
    assert first is not None and first.data == b"one"
    store.write("channels/a.json", b"two", first)
    with pytest.raises(Changed):
        store.write("channels/a.json", b"three", first)  # stale: someone wrote "two"
    now = store.read("channels/a.json")
    assert now is not None and now.data == b"two"


def test_the_lock_serializes_writers(store: IndexStore) -> None:
    order: list[str] = []

    def hold(name: str) -> None:
        with store.lock():
            order.append(f"{name} in")
            time.sleep(0.3)
            order.append(f"{name} out")

    threads = [threading.Thread(target=hold, args=(n,)) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert order[0][0] == order[1][0] and order[2][0] == order[3][0], order


def test_a_dead_writers_s3_lock_is_broken_after_the_lease(
    aws_env: dict[str, str],
    moto_server: S3Server,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bucket = f"b{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=moto_server.endpoint)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="channels/.lock", Body=b"dead:1")
    store = open_index_store(S3Target(type="s3", bucket=bucket, endpoint_url=moto_server.endpoint))
    monkeypatch.setattr(indexstore, "LEASE", 1.0)
    with store.lock():
        assert s3.get_object(Bucket=bucket, Key="channels/.lock")["Body"].read() != b"dead:1"
    assert "breaking a lock left" in caplog.text
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)  # released


def test_the_lock_of_a_dead_local_writer_is_broken_at_once(
    store: IndexStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A rerun after a kill -9 on the same machine does not wait out the 5-minute lease."""
    monkeypatch.setattr(indexstore, "WAIT", 5.0)  # not the lease: a wait would fail the test
    if isinstance(store, indexstore.FilesystemIndexStore):
        _kill_a_holder_of(store)  # flock: the kernel releases a dead writer's lock
        with store.lock():
            pass
        return
    store.put(indexstore.LOCK_NAME, dead_owner())
    with store.lock():
        held = store.read(indexstore.LOCK_NAME)
        mine = owner_id().partition(b"@")[2]  # this process (the nonce is per taking)
        assert held is not None and held.data.partition(b"@")[2] == mine
    assert "breaking a lock left" in caplog.text
    assert store.read(indexstore.LOCK_NAME) is None


def _kill_a_holder_of(store: indexstore.FilesystemIndexStore) -> None:
    """Another process takes the filesystem lock and is killed (SIGKILL) while holding it."""
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from release.publish.indexstore import FilesystemIndexStore\n"
        "with FilesystemIndexStore(Path(sys.argv[1])).lock():\n"
        "    print('held', flush=True)\n"
        "    time.sleep(60)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(store.root)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    finally:
        holder.kill()
        holder.communicate()


@pytest.mark.parametrize(
    "owner",
    [
        b"dead:1",  # written by an older release: only the lease breaks it
        b"elsewhere:1 " + owner_id().partition(b" ")[2],  # another host
        owner_id(),  # this very process: alive
        owner_id().partition(b" ")[0] + b" boot=other pid:[1]",  # another machine
    ],
    ids=["older-release", "another-host", "this-process", "another-machine"],  # stable ids
)
def test_a_live_or_foreign_lock_waits_for_the_lease(owner: bytes) -> None:
    assert not indexstore.abandoned(owner, 1.0)
    assert indexstore.abandoned(owner, indexstore.LEASE + 1)
    assert indexstore.abandoned(dead_owner(), 1.0)


def test_the_filesystem_lock_sweeps_what_a_killed_writer_left(tmp_path: Path) -> None:
    store = open_index_store(FilesystemTarget(type="filesystem", path=str(tmp_path / "m")))
    store.put("channels/snapshot.json", b"{}")
    leftover = tmp_path / "m/channels/.snapshot.json.x1y2z3.part"  # fsutil's temporary name
    leftover.write_bytes(b"{")
    with store.lock():
        assert not leftover.exists()
    assert sorted(p.name for p in (tmp_path / "m/channels").iterdir()) == [".lock", "snapshot.json"]


@pytest.fixture
def s3_via_proxy(
    aws_env: dict[str, str], moto_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[IndexStore, FaultProxy, str]]:
    """An S3 index store that talks to moto through the fault proxy, and the bucket."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    bucket = f"b{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_server.endpoint).create_bucket(Bucket=bucket)
    host, port = moto_server.endpoint.removeprefix("http://").split(":")
    with FaultProxy((host, int(port))) as proxy:
        target = S3Target(type="s3", bucket=bucket, endpoint_url=proxy.url)
        yield open_index_store(target), proxy, bucket


def test_a_lost_answer_is_not_a_conflict(
    s3_via_proxy: tuple[IndexStore, FaultProxy, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock create and an index write land but their answers are lost: the retry meets
    our own object (412). Neither waits out the lease nor rewrites the index (a doubled
    serial). Found by tests/chaos/test_fault_reconcile.py."""
    store, proxy, bucket = s3_via_proxy
    monkeypatch.setattr(indexstore, "WAIT", 5.0)  # the lease would fail the test
    store.write("channels/a.json", b"one", None)
    before = store.read("channels/a.json")
    proxy.add(Fault("drop", match=f"PUT /{bucket}/channels/.lock "))
    proxy.add(Fault("drop", match=f"PUT /{bucket}/channels/a.json "))
    with store.lock():
        signed_write(store, "channels/a.json", b"two", before, b"sig of two")
    assert [r.fault for r in proxy.requests if r.fault] == ["drop", "drop"]
    now = store.read("channels/a.json")
    assert now is not None and now.data == b"two"
    assert store.read("channels/.lock") is None


def test_a_failed_write_puts_the_old_signature_back(
    s3_via_proxy: tuple[IndexStore, FaultProxy, str],
) -> None:
    store, proxy, bucket = s3_via_proxy
    store.put("channels/a.json.asc", b"sig of one")
    store.write("channels/a.json", b"one", None)
    before = store.read("channels/a.json")
    proxy.add(Fault("503", match=f"PUT /{bucket}/channels/a.json ", count=1000))
    with pytest.raises(OperationError, match="503"):
        signed_write(store, "channels/a.json", b"two", before, b"sig of two")
    signature = store.read("channels/a.json.asc")
    assert signature is not None and signature.data == b"sig of one"


def test_a_read_broken_mid_body_is_retried(
    s3_via_proxy: tuple[IndexStore, FaultProxy, str],
) -> None:
    store, proxy, _ = s3_via_proxy
    store.write("channels/a.json", b"x" * 300, None)
    proxy.add(Fault("truncate", match="GET ", after_bytes=10))
    read = store.read("channels/a.json")  # was a ResponseStreamingError traceback
    assert read is not None and read.data == b"x" * 300
    assert [r.fault for r in proxy.requests if r.fault] == ["truncate"]


def test_retries_do_not_multiply_across_layers(
    s3_via_proxy: tuple[IndexStore, FaultProxy, str],
) -> None:
    """One retry policy: a write failing for good is tried 3 times, not 3 (ours) x 3 (SDK)."""
    store, proxy, _ = s3_via_proxy
    proxy.add(Fault("503", match="PUT ", count=100))
    with pytest.raises(Transient):
        store.put("channels/a.json.asc", b"sig")
    assert len([r for r in proxy.requests if r.fault == "503"]) == 3


def test_object_stores_serve_pages_as_html(
    aws_env: None, moto_server: S3Server, fake_gcs: GcsServer
) -> None:
    """A page uploaded as application/octet-stream is a download, not a page, in a browser."""
    bucket = f"b{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=moto_server.endpoint)
    s3.create_bucket(Bucket=bucket)
    fake_gcs.client().create_bucket(bucket)
    stores = {
        "s3": open_index_store(
            S3Target(type="s3", bucket=bucket, endpoint_url=moto_server.endpoint)
        ),
        "gcs": open_index_store(
            GcsTarget(type="gcs", bucket=bucket, endpoint_url=fake_gcs.endpoint)
        ),
    }
    for store in stores.values():
        store.write("index.html", b"<!DOCTYPE html>", None)
        store.put("streams/v1/a.json", b"{}")
        store.put("streams/v1/a.json.asc", b"sig")
    expected = {"index.html": "text/html; charset=utf-8", "streams/v1/a.json": "application/json",
                "streams/v1/a.json.asc": "application/pgp-signature"}  # fmt: skip
    got_s3 = {name: s3.head_object(Bucket=bucket, Key=name)["ContentType"] for name in expected}
    gcs_bucket = fake_gcs.client().bucket(bucket)
    got_gcs = {name: gcs_bucket.get_blob(name).content_type for name in expected}
    assert got_s3 == expected and got_gcs == expected
