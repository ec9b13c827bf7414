"""kill -9 make_release (build, conversion, sealing) at seeded random moments, then rerun.

After every kill: nothing under a finished-looking name is partial (an artifact in staging
reads as a whole image; a release dir under its final name is sealed and verifies). The
rerun finishes and its release verifies. RELEASE_CHAOS_BUILD_RUNS sets the kills (default 3).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from release.integrity.keysource import load_key_source
from release.integrity.verify import verify_release
from release.pipeline import Workspace, is_sealed
from tests.imaging.conftest import ImageFactory
from tests.integrity.gpgkit import PASSPHRASE, Keys, write_keys_dir

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
RUNS = int(os.environ.get("RELEASE_CHAOS_BUILD_RUNS", "3"))


def whole(path: Path) -> str | None:
    """Why a finished-looking file is not whole, or None."""
    if path.name.endswith(".tar.gz"):
        check = ["gzip", "-t", str(path)]
    elif path.suffix in (".qcow2", ".vhd"):
        fmt = {".qcow2": "qcow2", ".vhd": "vpc"}[path.suffix]
        check = (
            ["qemu-img", "check", "-f", fmt, str(path)]
            if fmt == "qcow2"
            else ["qemu-img", "info", "-f", fmt, str(path)]
        )
    elif path.suffix == ".packages":
        return None if path.read_bytes().endswith(b"\n") else "a package list cut short"
    else:
        return None
    result = subprocess.run(check, capture_output=True, text=True, check=False)
    return None if result.returncode == 0 else result.stderr.strip()[-300:]


def assert_nothing_partial(workspace: Workspace, note: str, keys_dir: Path) -> None:
    releases = workspace.root / "releases"
    for path in releases.rglob("*") if releases.exists() else []:
        rel = path.relative_to(releases)
        if not path.is_file() or rel.name.startswith("."):
            continue
        problem = whole(path)
        assert problem is None, f"{note}: {rel} is partial: {problem}"
        if not any(part.startswith(".") for part in rel.parts[:-1]):  # under a final dir name
            assert is_sealed(path.parent), f"{note}: {path.parent} is final but not sealed"
    for final in releases.glob("*/*") if releases.exists() else []:
        if not final.name.startswith("."):
            result = verify_release(str(final), load_key_source(keys_dir))
            assert result.ok, f"{note}: {result.failures()}"


def moments(workspace: Workspace, name: str, version: str) -> dict[str, Callable[[], bool]]:
    """Moments of a make_release run to kill at (plus a random few hundred ms)."""
    staging = workspace.staging_dir(name, version)

    def staged(suffix: str) -> Callable[[], bool]:
        return lambda: any(staging.glob(f"*{suffix}"))

    return {
        "start": lambda: True,
        "building": workspace.builds.exists,
        "staging made": staging.exists,
        "converting (qcow2 staged)": staged(".qcow2"),
        "gce archive staged": staged(".tar.gz"),
        "sealing (checksums written)": staged("sum.txt"),
    }


def kill_at(argv: list[str], env: dict[str, str], when: Callable[[], bool], delay: float) -> bool:
    mark = uuid.uuid4().hex
    proc = subprocess.Popen(
        argv,
        cwd=REPO,
        env={**env, "RELEASE_CHAOS_MARK": mark},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while proc.poll() is None and not when():
        time.sleep(0.002)
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return True
    finally:
        reap_orphans(mark)


def reap_orphans(mark: str) -> None:
    """A killed run cannot stop the gpg-agent of its signing home: find the agents that carry
    this run's mark in their environment, stop them and remove their homes."""
    needle = f"RELEASE_CHAOS_MARK={mark}".encode()
    for entry in os.scandir("/proc"):
        try:
            environ = Path(f"/proc/{entry.name}/environ").read_bytes()
            argv = Path(f"/proc/{entry.name}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if needle in environ.split(b"\0") and b"--homedir" in argv:
            home = argv[argv.index(b"--homedir") + 1].decode()
            subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], check=False)
            shutil.rmtree(home, ignore_errors=True)


def test_kill_9_make_release_then_rerun(
    make_image: ImageFactory, keys: Keys, tmp_path: Path, rng: random.Random
) -> None:
    image = make_image(7, variants={"openstack": {}, "gce": {}}, formats=["qcow2", "vhd", "gce"])
    definition = tmp_path / "image.json"
    definition.write_text(image.model_dump_json())
    keys_dir = write_keys_dir(keys, tmp_path / "keys", {"protected": ["*"]})
    env = {
        **os.environ,
        "RELEASE_SIGNING_KEY": keys.secret["protected"].decode(),
        "RELEASE_SIGNING_PASSPHRASE": PASSPHRASE,
    }
    kills = []
    for run in range(RUNS):
        workspace = Workspace(tmp_path / f"work{run}")  # fresh: every run builds again
        argv = [sys.executable, "-m", "tests.chaos.make_release_entry", str(definition),
                str(workspace.root)]  # fmt: skip
        points = moments(workspace, image.name, image.version)
        moment = rng.choice(sorted(points))
        delay = round(rng.uniform(0, 0.4), 3)
        note = f"run {run}: kill at {moment!r} + {delay} s"
        killed = kill_at(argv, env, points[moment], delay)
        kills.append((moment, delay, killed))
        assert_nothing_partial(workspace, note, keys_dir)
        final = subprocess.run(
            argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        assert final.returncode == 0, f"{note}: rerun failed: {final.stderr[-3000:]}"
        release_dir = workspace.release_dir(image.name, image.version)
        assert is_sealed(release_dir), note
        assert_nothing_partial(workspace, f"{note}, after the rerun", keys_dir)
        assert not list(release_dir.parent.glob(".*staging")), note
    print(f"make_release kills (moment, delay, killed): {kills}")
