"""Glance upload speed against a real local Glance API, as a ratio against openstacksdk.

`python -m bench.glance [--quick]` prints a table; `run(quick)` returns its rows.
- upload of a 1 GiB qcow2 (256 MiB with --quick): our openstack-glance registry (plain
  upload) vs openstacksdk's own `conn.image.create_image(name, filename=...)` with its
  defaults, each in its own process, alternating, best of three; goal: at most 1.1x.

Ours does more by design: it looks the release up by its tags first, computes SHA-256 (to
prove it sent the sealed bytes) and SHA-512 in the same read pass, checks Glance's md5 and
sha512 against them, then sets the visibility. create_image reads the file once for its md5
and sha256, then again to upload. The Glance server (werkzeug, sqlite, the file store) runs
on the same 2 cores and hashes everything too.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.publish.glancekit import running_glance

MiB = 1024 * 1024
REPO = Path(__file__).resolve().parents[1]

_OURS = """
import sys, time
from pathlib import Path
from release.model.target import OpenStackGlanceTarget
from release.publish.glance_image import GlanceRegistry, GlanceSpec
from release.publish.journal import Journal
from release.publish.mirror import LocalFile
import openstack  # library start-up stays out of the clock, as it does below
disk, endpoint, journal, sha256, md5, name = sys.argv[1:7]
path = Path(disk)
target = OpenStackGlanceTarget(type="openstack-glance", endpoint_url=endpoint,
                               import_method="upload")
started = time.perf_counter()
with Journal(Path(journal)) as j:
    artifact = LocalFile(path.name, path, path.stat().st_size, sha256, "bench")
    GlanceRegistry(target, artifact, name, "1.0", GlanceSpec(7, "x86_64", 1 << 30, False), j,
                   sealed_md5=md5).publish_image()
print(time.perf_counter() - started)
"""
_SDK = """
import sys, time, openstack
disk, endpoint, name = sys.argv[1:4]
conn = openstack.connect(auth_type="none", auth={"endpoint": endpoint},
                         image_endpoint_override=endpoint, load_yaml_config=False,
                         load_envvars=False)
started = time.perf_counter()
image = conn.image.create_image(name, filename=disk, disk_format="qcow2",
                                container_format="bare")
assert conn.image.get_image(image.id).status == "active"
print(time.perf_counter() - started)
"""


def _timed(code: str, *args: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-c", code, *args]
    out = subprocess.run(argv, check=True, capture_output=True, text=True, env=env, cwd=REPO)
    return float(out.stdout.strip().splitlines()[-1])


def _qcow2(base: Path, size: int) -> Path:
    raw, disk = base / "disk.raw", base / "disk.qcow2"
    with raw.open("wb") as f:
        for _ in range(size // (8 * MiB)):
            f.write(os.urandom(8 * MiB))
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(disk)],
                   check=True)  # fmt: skip
    raw.unlink()
    return disk


def run(quick: bool) -> list[dict[str, object]]:
    size = (256 if quick else 1024) * MiB
    with tempfile.TemporaryDirectory(prefix="bench-glance-") as tmp:
        base = Path(tmp)
        disk = _qcow2(base, size)
        with disk.open("rb") as f:
            sha256 = hashlib.file_digest(f, "sha256").hexdigest()
        with disk.open("rb") as f:
            md5 = hashlib.file_digest(f, "md5").hexdigest()
        ours: list[float] = []
        ref: list[float] = []
        with running_glance(base / "glance") as glance:
            for round_ in range(3):
                ref.append(_timed(_SDK, str(disk), glance.endpoint, f"sdk-{round_}"))
                journal = str(base / f"j{round_}.sqlite")
                ours.append(_timed(_OURS, str(disk), glance.endpoint, journal, sha256, md5,
                                   f"ours{round_}"))  # fmt: skip
                glance.wipe()
    what = f"Glance upload of a {size // MiB} MiB qcow2 (plain upload, verified) vs create_image"
    best, best_ref = min(ours), min(ref)
    return [
        {"what": what, "ours_s": round(best, 2), "reference_s": round(best_ref, 2),
         "ratio": round(best / best_ref, 3), "goal": "<= 1.1", "runs": [ours, ref]}
    ]  # fmt: skip


def main() -> None:
    rows = run("--quick" in sys.argv)
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
