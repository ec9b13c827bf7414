"""The integrity commands as a user runs them: a real process, real exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from release.cli.integrity_cmds import keys_group
from tests.integrity.conftest import IMAGE, VERSION, write_inputs
from tests.integrity.gpgkit import Keys, destroy_home, gpg, new_home

# The lead registers COMMANDS in release/cli/__init__.py; until then add them here.
_MAIN = (
    "from release.cli import cli, main\n"
    "from release.cli.integrity_cmds import COMMANDS\n"
    "for command in COMMANDS:\n"
    "    cli.add_command(command)\n"
    "main()\n"
)
QCOW2 = f"{IMAGE}-{VERSION}-openstack.qcow2"


def release(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [sys.executable, "-c", _MAIN, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd or root,
        env=env,
        check=False,
    )


def test_verify_ok(release_dir: Path, keys_dir: Path) -> None:
    proc = release("verify", release_dir, "--keys", keys_dir, "--channel-keys", "el7-cloud")
    assert proc.returncode == 0, proc.stderr
    assert "ok    sha256sum.txt.asc  good signature by good (" in proc.stdout
    assert f"ok    {QCOW2}  (size 300000, md5, sha1, sha256)" in proc.stdout
    assert proc.stdout.rstrip().endswith("files match their signed digests")


def test_verify_failure_exits_3_and_says_why(release_dir: Path, keys_dir: Path) -> None:
    (release_dir / QCOW2).write_bytes(b"tampered")
    proc = release("verify", release_dir, "--keys", keys_dir, "--json")
    assert proc.returncode == 3
    report = json.loads(proc.stdout)
    bad = next(f for f in report["files"] if f["name"] == QCOW2)
    assert bad["problems"] == ["size 8 bytes, signed size 300000 (truncated)"]
    assert "error: " in proc.stderr and "verification FAILED (1 problem)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_verify_selected_files(release_dir: Path, keys_dir: Path) -> None:
    (release_dir / f"{IMAGE}-{VERSION}-gce.tar.gz").unlink()  # not selected: not checked
    proc = release("verify", release_dir, "--keys", keys_dir, "--file", QCOW2, "--json")
    assert proc.returncode == 0, proc.stdout
    assert [f["name"] for f in json.loads(proc.stdout)["files"]] == [QCOW2]
    proc = release("verify", release_dir, "--keys", keys_dir, "--file", "nope.qcow2")
    assert proc.returncode == 3
    assert "nope.qcow2 is not listed in the signed checksum files" in proc.stdout


def test_verify_defaults_to_keys_of_config_repo(release_dir: Path, keys_dir: Path) -> None:
    proc = release("verify", release_dir, cwd=keys_dir.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = release("verify", release_dir, cwd=release_dir)
    assert proc.returncode == 2
    assert "error: no keys: pass --keys" in proc.stderr


def test_verify_with_private_key_in_keys_exits_2(
    release_dir: Path, keys_dir: Path, keys: Keys
) -> None:
    (keys_dir / "leak.asc").write_bytes(keys.secret["good"])
    proc = release("verify", release_dir, "--keys", keys_dir)
    assert proc.returncode == 2
    assert "leak.asc: contains a PRIVATE key" in proc.stderr


def test_seal_from_ci_secret(tmp_path: Path, keys: Keys, keys_dir: Path) -> None:
    directory = tmp_path / IMAGE / VERSION
    write_inputs(directory)
    args: list[str | Path] = [
        "seal", directory, "--image", IMAGE, "--version", VERSION, "--variant", "openstack",
        "--variant", "gce", "--commit", "c0ffee", "--json",
    ]  # fmt: skip
    env_key = {"RELEASE_SIGNING_KEY": keys.secret["good"].decode()}
    proc = _with_env(env_key, *args)
    assert proc.returncode == 0, proc.stderr
    assert "manifest.json.asc" in json.loads(proc.stdout)["signed"]
    again = _with_env(env_key, *args)
    assert json.loads(again.stdout)["written"] == []  # same build time reused: nothing changes
    assert release("verify", directory, "--keys", keys_dir).returncode == 0


def _with_env(extra: dict[str, str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), **extra}
    return subprocess.run(
        [sys.executable, "-c", _MAIN, *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_keys_list_and_check(keys_dir: Path, keys: Keys) -> None:
    runner = CliRunner()
    listed = runner.invoke(keys_group, ["list", "--keys", str(keys_dir), "--json"])
    assert listed.exit_code == 0, listed.output
    states = {k["name"]: k["state"] for k in json.loads(listed.output)}
    assert states == {"el6": "ok", "expired": "expired", "good": "ok", "revoked": "revoked"}
    checked = release("keys", "check", "--keys", keys_dir)
    assert checked.returncode == 2
    assert "keys.expired: the key has expired" in checked.stderr
    assert "keys.revoked: the key is revoked" in checked.stderr


def test_keys_export(keys_dir: Path, keys: Keys, tmp_path: Path) -> None:
    out = tmp_path / "RPM-GPG-KEY-release"
    result = CliRunner().invoke(
        keys_group, ["export", "good", "--keys", str(keys_dir), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    home = new_home()
    try:
        shown = gpg(home, "--show-keys", "--with-colons", str(out)).decode()
    finally:
        destroy_home(home)
    assert keys.fpr["good"] in shown and keys.fpr["el6"] not in shown
    unknown = release("keys", "export", "nobody", "--keys", keys_dir)
    assert unknown.returncode == 2 and "no trusted key named nobody" in unknown.stderr
