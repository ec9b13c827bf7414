"""Hostile input through the real `release` entry point: exit 2 or 3, one line, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integrity.gpgkit import Keys

pytestmark = pytest.mark.chaos

REPO = Path(__file__).resolve().parents[2]
Spoil = Callable[[Path, Keys], None]


def release(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "release", *args]
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)


def _append_signed(name: str, text: str) -> Spoil:
    def spoil(directory: Path, keys: Keys) -> None:
        with (directory / name).open("a") as out:
            out.write(text)
        keys.sign_release_file(directory, name)  # a trusted key signed it: still refused

    return spoil


def _manifest_signed(change: Callable[[dict[str, object]], None]) -> Spoil:
    def spoil(directory: Path, keys: Keys) -> None:
        document = json.loads((directory / "manifest.json").read_text())
        change(document)
        (directory / "manifest.json").write_text(json.dumps(document))
        keys.sign_release_file(directory, "manifest.json")

    return spoil


def _write(name: str, data: bytes) -> Spoil:
    def spoil(directory: Path, _keys: Keys) -> None:
        (directory / name).write_bytes(data)

    return spoil


def _first_artifact_size(document: dict[str, object]) -> None:
    artifacts = document["artifacts"]
    assert isinstance(artifacts, list)
    artifacts[0]["size"] += 1


CASES: dict[str, tuple[Spoil, str]] = {
    "checksum name climbs out": (
        _append_signed("sha256sum.txt", f"{'0' * 64}  ../../etc/passwd\n"),
        "climbs out of the release directory",
    ),
    "checksum BSD line": (
        _append_signed("sha256sum.txt", f"SHA256 (x) = {'0' * 64}\n"),
        "is not a '<sha256 hex>  <name>' line",
    ),
    "checksum CRLF": (_append_signed("sha1sum.txt", f"{'0' * 40}  x\r\n"), "carriage return"),
    "manifest extra field": (
        _manifest_signed(lambda d: d.update(evil=1)),
        "evil: Extra inputs are not permitted",
    ),
    "manifest size disagrees": (_manifest_signed(_first_artifact_size), "manifest.json"),
    "signature empty": (_write("manifest.json.asc", b""), "manifest.json.asc is empty"),
    "signature binary": (_write("sha256sum.txt.asc", b"\x89\x01\x00" * 50), "binary or garbage"),
    "signature garbage": (_write("md5sum.txt.asc", b"hello\n"), "does not start with"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_verify_refuses_with_exit_3(
    case: str,
    release_dir: Path,
    keys_dir: Path,
    keys: Keys,
) -> None:
    spoil, message = CASES[case]
    spoil(release_dir, keys)
    result = release("verify", str(release_dir), "--keys", str(keys_dir))
    assert result.returncode == 3, result.stderr
    assert message in result.stdout + result.stderr
    assert "verification FAILED" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3://../x", "not a valid bucket name"),
        ("s3://bucket/a/../../b", "has an empty, '.' or '..' component"),
        ("file://relative/path", "write a local directory as file:///absolute/path"),
        ("ftp://host/x", "not a target URL"),
        ("file://[", "not a target URL (Invalid IPv6 URL)"),
    ],
)
def test_push_refuses_hostile_target_urls_with_exit_2(
    url: str,
    message: str,
    release_dir: Path,
) -> None:
    result = release("push", str(release_dir), url, "--journal", str(release_dir.parent / "j.db"))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (release_dir.parent / "j.db").exists()  # nothing was started
