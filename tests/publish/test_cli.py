from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from release.publish.journal import Journal
from tests.publish.conftest import S3Server
from tests.publish.helpers import ARTIFACT, flip_byte, make_release, same_tree, seal

REPO = Path(__file__).resolve().parents[2]


def release(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.publish.cli_entry", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_push_to_a_directory_then_rerun(tmp_path: Path) -> None:
    rel = make_release(tmp_path / "src", artifact_size=1000)
    journal = str(tmp_path / "j.sqlite")
    url = f"file://{tmp_path / 'mirror'}"
    first = release("push", str(rel), url, "--journal", journal)
    assert first.returncode == 0, first.stderr
    assert "6 published, 0 already there, 0 retried, 0 failed" in first.stdout
    assert same_tree(rel, tmp_path / "mirror" / "img" / "1.0")
    again = release("push", str(rel), url, "--journal", journal, "--json")
    assert again.returncode == 0, again.stderr
    data = json.loads(again.stdout)
    assert data["ok"] is True
    assert {f["status"] for f in data["files"]} == {"skipped"}


def test_dry_run_lists_what_would_be_sent(tmp_path: Path) -> None:
    rel = make_release(tmp_path / "src", artifact_size=1000)
    url = f"file://{tmp_path / 'mirror'}"
    out = release("push", str(rel), url, "--dry-run", "--journal", str(tmp_path / "j.sqlite"))
    assert out.returncode == 0, out.stderr
    assert f"would-send   {ARTIFACT} -> {url}/img/1.0/{ARTIFACT} (1000 B)" in out.stdout
    assert not (tmp_path / "mirror").exists()


def test_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    rel = make_release(tmp_path / "src", artifact_size=10)
    out = release("push", str(rel), "ftp://x/y", "--journal", str(tmp_path / "j.sqlite"))
    assert out.returncode == 2
    assert out.stderr.strip().startswith("error: ftp://x/y: not a target URL")
    assert "Traceback" not in out.stderr
    missing = release("push", str(tmp_path / "nope" / "1.0"), f"file://{tmp_path}/m")
    assert missing.returncode == 2
    assert "not a directory" in missing.stderr


def test_push_to_s3_with_endpoint_url(
    s3: S3Server, aws_env: dict[str, str], tmp_path: Path
) -> None:
    rel = make_release(tmp_path / "src", artifact_size=1000)
    out = release(
        "push",
        str(rel),
        "s3://releases/pub",
        "--endpoint-url",
        s3.endpoint,
        "--journal",
        str(tmp_path / "j.sqlite"),
        "--json",
        env=aws_env,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["target"] == "s3://releases/pub/img/1.0"
    with Journal(tmp_path / "j.sqlite"):
        pass  # the journal is where --journal said


def test_a_missing_bucket_exits_2(s3: S3Server, aws_env: dict[str, str], tmp_path: Path) -> None:
    rel = make_release(tmp_path / "src", artifact_size=10)
    out = release(
        "push",
        str(rel),
        "s3://nope-bucket",
        "--endpoint-url",
        s3.endpoint,
        "--journal",
        str(tmp_path / "j.sqlite"),
        env=aws_env,
    )
    assert out.returncode == 2
    assert "error: s3://nope-bucket: the bucket does not exist" in out.stderr
    assert "retrying" not in out.stderr


def test_a_file_changed_after_sealing_exits_3(tmp_path: Path) -> None:
    rel = make_release(tmp_path / "src", artifact_size=1000)
    seal(rel)
    flip_byte(rel / ARTIFACT, 0)
    url = f"file://{tmp_path / 'mirror'}"
    out = release("push", str(rel), url, "--journal", str(tmp_path / "j.sqlite"))
    assert out.returncode == 3, out.stderr
    assert "changed after the release was sealed" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "mirror" / "img").exists()
