"""Two `release reconcile` processes started together against the same target: each release
is published once, each index written once, and no index update is lost."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from release.channels import index as idx
from release.pipeline import Workspace
from tests.channels.kit import ConfigKit, make_config, sealed_release
from tests.conftest import ROOT
from tests.integrity.gpgkit import Keys
from tests.publish.conftest import GcsServer, S3Server

pytestmark = pytest.mark.slow

CHANNELS = ("fx-stable", "fx-testing")


def _start(kit: ConfigKit, keys: Keys, work: Path, env: dict[str, str], *extra: str) -> Any:
    argv = [sys.executable, "-m", "tests.channels.cli_entry", *extra, "--repo",
            str(kit.clone), "--work", str(work), "--gnupghome", str(keys.home),
            "--fingerprint", keys.fpr["good"], "--json"]  # fmt: skip
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def _results(procs: list[Any]) -> list[dict[str, Any]]:
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    return results


class Fs:
    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "mirror-root"
        self.target = f"type: filesystem\npath: {self.root}\n"

    def read(self, name: str) -> bytes:
        return (self.root / name).read_bytes()


class S3:
    def __init__(self, server: S3Server) -> None:
        self.bucket = f"b{uuid.uuid4().hex[:12]}"
        self.s3 = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1")
        self.s3.create_bucket(Bucket=self.bucket)
        self.target = (
            f"type: s3\nbucket: {self.bucket}\nprefix: pub\nendpoint_url: {server.endpoint}\n"
        )

    def read(self, name: str) -> bytes:
        body: bytes = self.s3.get_object(Bucket=self.bucket, Key=f"pub/{name}")["Body"].read()
        return body


class Gcs:
    def __init__(self, server: GcsServer) -> None:
        self.bucket = server.client().create_bucket(f"b{uuid.uuid4().hex[:12]}")
        self.target = (
            f"type: gcs\nbucket: {self.bucket.name}\nprefix: pub\nendpoint_url: {server.endpoint}\n"
        )

    def read(self, name: str) -> bytes:
        data: bytes = self.bucket.blob(f"pub/{name}").download_as_bytes()
        return data


@pytest.fixture(params=["filesystem", "s3", "gcs"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Fs | S3 | Gcs:
    if request.param == "filesystem":
        return Fs(tmp_path)
    if request.param == "gcs":
        return Gcs(request.getfixturevalue("fake_gcs"))
    request.getfixturevalue("aws_env")
    return S3(request.getfixturevalue("moto_server"))


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_two_reconciles_publish_each_release_once(
    store: Fs | S3 | Gcs, keys: Keys, tmp_path: Path
) -> None:
    kit = make_config(tmp_path, keys, target=store.target)
    work = tmp_path / "work"
    release = sealed_release(Workspace(work), keys, "1.0.0")
    procs = [_start(kit, keys, work, _env(), "reconcile") for _ in range(2)]
    results = _results(procs)
    statuses = [
        (c["channel"], t["status"], t["detail"])
        for r in results
        for c in r["channels"]
        for t in c["targets"]
    ]
    for channel in CHANNELS:
        published = [s for s in statuses if s[0] == channel and s[1] == "published"]
        assert len(published) == 1, statuses  # one process wrote it, the other found it done
        index = idx.parse_index(store.read(f"channels/{channel}.json"))
        assert index.serial == 1
    sent = sum(int(s[2].split()[0]) for s in statuses if s[1] == "published")
    assert sent == len(list(release.iterdir()))  # every file of the release sent once


def test_two_writers_of_different_channels_lose_no_update(
    store: Fs | S3 | Gcs, keys: Keys, tmp_path: Path
) -> None:
    kit = make_config(tmp_path, keys, target=store.target)
    work = tmp_path / "work"
    sealed_release(Workspace(work), keys, "1.0.0")
    procs = [_start(kit, keys, work, _env(), "publish", "--channel", c) for c in CHANNELS]
    _results(procs)
    indexes = {c: store.read(f"channels/{c}.json") for c in CHANNELS}
    check = idx.check_snapshot(store.read("channels/snapshot.json"), indexes)
    assert check.ok, check.message
    assert check.snapshot is not None and check.snapshot.serial == 2
