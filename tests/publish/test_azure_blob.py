"""The page-blob upload of a fixed VHD: which bytes (pure), and against Azurite on 127.0.0.1:
only data sent, resumed from the page ranges present, after faults and after a kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobClient, BlobServiceClient

from release.errors import InvalidInput
from release.publish.azure_blob import (
    MAX_PUT,
    create,
    data_runs,
    nonzero_runs,
    release_metadata,
    split,
    stage_vhd,
    subtract,
)
from release.publish.azure_client import CONNECTION_STRING, blob_client, storage_credential
from release.publish.mirror import Conflict
from release.publish.retry import Retrier, RetrySettings
from tests.faultproxy import Fault, FaultProxy
from tests.publish.azurite import Azurite, azurite, local, make_vhd

MiB = 1 << 20
FAST = Retrier(RetrySettings(attempts=5, initial_wait=0.01, max_wait=0.05))


# -- pure ------------------------------------------------------------------------------------


def test_subtract_and_split() -> None:
    assert subtract([(0, 100)], [(10, 20)]) == [(0, 10), (30, 70)]
    assert subtract([(0, 100), (200, 50)], [(0, 100), (240, 100)]) == [(200, 40)]
    assert subtract([(0, 512)], []) == [(0, 512)]
    assert split([(0, 10 * MiB)]) == [(0, 4 * MiB), (4 * MiB, 4 * MiB), (8 * MiB, 2 * MiB)]
    assert 4 * MiB == MAX_PUT  # the service's limit per Put Page


def test_zero_blocks_are_not_data() -> None:
    buf = bytearray(16384)
    buf[5000] = 1
    buf[9000] = 2  # blocks 1 and 2 of 4096: one run
    assert nonzero_runs(bytes(buf), 1 << 30) == [((1 << 30) + 4096, 8192)]
    assert nonzero_runs(bytes(16384), 0) == []


def test_data_runs_skip_holes_and_zeros_and_align_to_pages(tmp_path: Path) -> None:
    disk = tmp_path / "d.vhd"
    with disk.open("wb") as f:
        f.truncate(10 * MiB + 512)
        f.seek(3 * MiB + 100)
        f.write(b"x" * 10)  # 4 KiB block at 3 MiB
        f.seek(5 * MiB)
        f.write(bytes(MiB))  # written zeros: data on disk, none on the wire
        f.seek(10 * MiB)
        f.write(b"conectix" + b"\1" * 504)  # the footer
    size, runs = data_runs(disk)
    assert size == 10 * MiB + 512
    assert runs == [(3 * MiB, 4096), (10 * MiB, 512)]


def test_a_file_of_partial_pages_is_refused(tmp_path: Path) -> None:
    (tmp_path / "odd.vhd").write_bytes(b"x" * 1000)
    with pytest.raises(InvalidInput, match="512-byte pages"):
        data_runs(tmp_path / "odd.vhd")


# -- against Azurite ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    with azurite(tmp_path_factory.mktemp("azurite")) as found:
        yield found


@pytest.fixture
def container(
    server: Azurite, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> str:
    monkeypatch.setenv(CONNECTION_STRING, server.connection_string())
    name = "c" + str(abs(hash(request.node.name)))[:20]
    service = BlobServiceClient(server.account_url, credential=storage_credential())
    service.create_container(name)
    return name


def blob(server: Azurite, container: str, name: str, url: str | None = None) -> BlobClient:
    return blob_client(url or server.account_url, container, name)


def read_all(b: BlobClient) -> bytes:
    return b.download_blob().readall()


CHUNKS = [(0, 3 * MiB), (8 * MiB + 4096, 5 * MiB), (30 * MiB, 512 * 3), (40 * MiB, 6 * MiB)]


def test_uploads_only_the_data_then_a_rerun_sends_nothing(
    server: Azurite, container: str, tmp_path: Path
) -> None:
    disk = tmp_path / "img.vhd"
    data = make_vhd(disk, 64 * MiB, CHUNKS)
    f = local(disk)
    host = urllib.parse.urlsplit(server.account_url)
    with FaultProxy((host.hostname or "", host.port or 0)) as proxy:
        url = f"{proxy.url}/devstoreaccount1"
        done = stage_vhd(blob(server, container, "img.vhd", url), f, "img", "1.0", FAST)
        assert done is not None
        put_bytes = proxy.bytes_up("comp=page HTTP")
    assert done.sent == done.data and done.present == 0
    # Every 4 KiB block of random data, each range rounded to 512-byte pages, plus the footer.
    assert done.data == 3 * MiB + 5 * MiB + 4096 + 6 * MiB + 512
    assert data <= done.data <= data + 4096  # 3 x 512 random bytes sit in one 4 KiB block
    assert put_bytes == done.sent  # the wire carried the data, nothing else
    assert done.puts == 1 + 2 + 1 + 2 + 1  # at most 4 MiB a Put Page
    b = blob(server, container, "img.vhd")
    assert read_all(b) == disk.read_bytes()
    props = b.get_blob_properties()
    assert props.metadata == release_metadata(f, "img", "1.0", complete=True)
    assert props.blob_type == "PageBlob"
    assert stage_vhd(b, f, "img", "1.0", FAST) is None


def test_resumes_from_the_page_ranges_present(
    server: Azurite, container: str, tmp_path: Path
) -> None:
    disk = tmp_path / "img.vhd"
    make_vhd(disk, 64 * MiB, CHUNKS)
    f = local(disk)
    b = blob(server, container, "img.vhd")
    create(b, f, release_metadata(f, "img", "1.0", complete=False), FAST)
    raw = disk.read_bytes()
    b.upload_page(raw[: 3 * MiB], 0, 3 * MiB)  # what an earlier, killed run sent
    done = stage_vhd(b, f, "img", "1.0", FAST)
    assert done is not None
    assert done.present == 3 * MiB and done.sent == done.data - 3 * MiB
    assert read_all(b) == raw


def test_a_blob_of_another_disk_is_refused(server: Azurite, container: str, tmp_path: Path) -> None:
    disk = tmp_path / "img.vhd"
    make_vhd(disk, 8 * MiB, [(0, MiB)])
    other = tmp_path / "other.vhd"
    make_vhd(other, 8 * MiB, [(0, MiB)], seed=8)
    b = blob(server, container, "img.vhd")
    stage_vhd(b, local(other), "img", "1.0", FAST)
    with pytest.raises(Conflict, match="another disk"):
        stage_vhd(b, local(disk), "img", "1.0", FAST)
    assert read_all(b) == other.read_bytes()


def test_faults_are_retried_and_the_blob_is_whole(
    server: Azurite, container: str, tmp_path: Path
) -> None:
    disk = tmp_path / "img.vhd"
    make_vhd(disk, 64 * MiB, CHUNKS)
    f = local(disk)
    host = urllib.parse.urlsplit(server.account_url)
    retrier = Retrier(RetrySettings(attempts=6, initial_wait=0.01, max_wait=0.05))
    with FaultProxy((host.hostname or "", host.port or 0)) as proxy:
        proxy.add(Fault("reset", match="comp=page HTTP", after_bytes=MiB))  # a put, midway
        proxy.add(Fault("503", match="comp=page HTTP", skip=2))
        proxy.add(Fault("drop", match="comp=page HTTP", skip=3))  # a put landed, answer lost
        proxy.add(Fault("drop", match="comp=pagelist"))  # the page ranges read, lost
        proxy.add(Fault("drop", match="comp=metadata"))  # marked complete, answer lost
        url = f"{proxy.url}/devstoreaccount1"
        done = stage_vhd(blob(server, container, "img.vhd", url), f, "img", "1.0", retrier, 2)
        assert proxy.pending() == []
    assert done is not None
    assert len(retrier.events) == 5
    b = blob(server, container, "img.vhd")
    assert read_all(b) == disk.read_bytes()
    assert b.get_blob_properties().metadata["release_complete"] == "true"


ENTRY = Path(__file__).with_name("azure_entry.py")


def landed_bytes(b: BlobClient) -> int:
    return sum((p.end or 0) - (p.start or 0) + 1 for p in b.list_page_ranges())


@pytest.mark.slow
def test_a_kill_9_midway_then_a_rerun_finishes_without_resending(
    server: Azurite, container: str, tmp_path: Path
) -> None:
    disk = tmp_path / "img.vhd"
    make_vhd(disk, 64 * MiB, [(i * 8 * MiB, 2 * MiB) for i in range(8)])
    f = local(disk)
    host = urllib.parse.urlsplit(server.account_url)
    b = blob(server, container, "img.vhd")
    with FaultProxy((host.hostname or "", host.port or 0), rate=4 * MiB) as slow:
        argv = [sys.executable, str(ENTRY), f"{slow.url}/devstoreaccount1", container, str(disk)]
        child = subprocess.Popen(argv, env={**os.environ}, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and child.poll() is None:
                if b.exists() and landed_bytes(b) >= 4 * MiB:
                    break
                time.sleep(0.05)
            assert child.poll() is None, child.stderr.read() if child.stderr else ""
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.wait()
    assert child.returncode == -signal.SIGKILL
    landed = landed_bytes(b)
    assert 4 * MiB <= landed < 16 * MiB + 512
    with FaultProxy((host.hostname or "", host.port or 0)) as proxy:
        again = blob(server, container, "img.vhd", f"{proxy.url}/devstoreaccount1")
        done = stage_vhd(again, f, "img", "1.0", FAST)
        sent = proxy.bytes_up("comp=page HTTP")
    assert done is not None
    assert done.present == landed and done.sent == done.data - landed == sent
    assert read_all(b) == disk.read_bytes()


def test_a_page_blob_another_run_created_is_left_alone(
    server: Azurite, container: str, tmp_path: Path
) -> None:
    disk = tmp_path / "img.vhd"
    make_vhd(disk, 4 * MiB, [(0, MiB)])
    f = local(disk)
    b = blob(server, container, "img.vhd")
    create(b, f, release_metadata(f, "img", "1.0", complete=False), FAST)
    b.set_blob_metadata({"mark": "theirs"})
    create(b, f, release_metadata(f, "img", "1.0", complete=False), FAST)  # create-only: 409
    assert b.get_blob_properties().metadata == {"mark": "theirs"}
