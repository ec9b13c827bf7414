"""Seal with a passphrase-protected key from the environment and push with cloud credentials,
at --verbose, and prove no secret leaks: not in logs, --json output, published files, the
journal, nor any child process's argv (read from /proc while the commands run)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.integrity.gpgkit import PASSPHRASE, Keys
from tests.publish.conftest import S3Server

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
ACCESS_KEY = "AKIACHAOSLEAKCANARY7"
SECRET_KEY = "chaos/LeakCanary+SecretAccessKey0123456789"


class ArgvWatcher(threading.Thread):
    """Reads /proc/*/cmdline of every descendant of `root` until stopped."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.seen: set[tuple[str, ...]] = set()
        self.stopping = threading.Event()

    def _descendants(self) -> list[int]:
        parents: dict[int, int] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    stat = Path(f"/proc/{entry.name}/stat").read_text()
                except OSError:
                    continue
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        found, frontier = [], [self.root]
        while frontier:
            pid = frontier.pop()
            children = [p for p, ppid in parents.items() if ppid == pid]
            found += children
            frontier += children
        return found

    def run(self) -> None:
        while not self.stopping.is_set():
            for pid in [self.root, *self._descendants()]:
                try:
                    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if raw:
                    self.seen.add(tuple(raw.decode(errors="replace").split("\0")))


def run_watched(argv: list[str], env: dict[str, str]) -> tuple[str, set[tuple[str, ...]]]:
    proc = subprocess.Popen(
        argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    watcher = ArgvWatcher(proc.pid)
    watcher.start()
    out, err = proc.communicate(timeout=300)
    watcher.stopping.set()
    watcher.join()
    assert proc.returncode == 0, err
    return out + err, watcher.seen


def secrets_of(keys: Keys) -> dict[str, str]:
    armor = keys.secret["protected"].decode().splitlines()
    body = [line for line in armor if len(line) >= 60 and not line.startswith("-----")]
    return {
        "passphrase": PASSPHRASE,
        "secret key (first line)": body[0],
        "secret key (a middle line)": body[len(body) // 2],
        "AWS access key id": ACCESS_KEY,
        "AWS secret key": SECRET_KEY,
    }


def leaks(where: str, data: bytes, secrets: dict[str, str]) -> list[str]:
    return [f"{what} in {where}" for what, value in secrets.items() if value.encode() in data]


def test_no_secret_leaks_from_seal_and_push(
    keys: Keys,
    s3: S3Server,
    aws_env: dict[str, str],
    tmp_path: Path,
) -> None:
    secrets = secrets_of(keys)
    rel = tmp_path / "src" / "img" / "1.0"
    rel.mkdir(parents=True)
    (rel / "img-1.0-base.qcow2").write_bytes(os.urandom(1 << 20))
    (rel / "img-1.0-base.packages").write_text("bash\t0\t4.2\t1\tx86_64\n")
    env = {
        **aws_env,
        "RELEASE_SIGNING_KEY": keys.secret["protected"].decode(),
        "RELEASE_SIGNING_PASSPHRASE": PASSPHRASE,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    }
    release = [sys.executable, "-m", "release", "--verbose"]
    seal = [*release, "seal", str(rel), "--image", "img", "--version", "1.0",
            "--variant", "base", "--commit", "0" * 40, "--json"]  # fmt: skip
    journal = tmp_path / "journal.sqlite"
    push = [*release, "push", str(rel), "s3://releases/pub", "--endpoint-url", s3.endpoint,
            "--journal", str(journal), "--json"]  # fmt: skip

    found: list[str] = []
    argvs: set[tuple[str, ...]] = set()
    for argv in (seal, push):
        output, seen = run_watched(argv, env)
        found += leaks(f"the output of {argv[4]}", output.encode(), secrets)
        argvs |= seen
    for argv_seen in argvs:
        found += leaks(f"argv {argv_seen[:3]}", "\0".join(argv_seen).encode(), secrets)
    assert any("gpg" in Path(a[0]).name for a in argvs), f"gpg was never seen: {argvs}"

    assert (rel / "manifest.json.asc").is_file()  # the protected key really signed
    client: Any = boto3.client("s3", endpoint_url=s3.endpoint)
    listing = client.list_objects_v2(Bucket="releases", Prefix="pub/")["Contents"]
    assert len(listing) == len(list(rel.iterdir()))
    for item in listing:
        body = client.get_object(Bucket="releases", Key=item["Key"])["Body"].read()
        found += leaks(f"published {item['Key']}", body, secrets)
    for path in tmp_path.rglob("*"):
        if path.is_file():  # the release dir, the journal and its WAL
            found += leaks(str(path.relative_to(tmp_path)), path.read_bytes(), secrets)
    assert found == []


def test_no_credentials_in_log_records_of_a_verbose_push(
    s3: S3Server,
    aws_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """In process, so caplog sees every record any logger emits (botocore's included)."""
    from click.testing import CliRunner

    from release.cli import cli

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    rel = tmp_path / "img" / "1.0"
    rel.mkdir(parents=True)
    (rel / "img-1.0-base.qcow2").write_bytes(os.urandom(6 << 20))
    caplog.set_level("DEBUG")
    args = ["--verbose", "push", str(rel), "s3://releases/in", "--endpoint-url", s3.endpoint,
            "--journal", str(tmp_path / "j.sqlite"), "--part-size", "5MiB", "--json"]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert caplog.records, "no log record was captured: the test would see nothing"
    text = caplog.text + result.output + "".join(str(r.args) for r in caplog.records)
    assert ACCESS_KEY not in text and SECRET_KEY not in text
