"""docs/verifying.md's claims about the stock tools, tried with the real gpg, sha256sum and
python on a real sealed release: what `gpg --verify` + `sha256sum -c --strict` let through,
and that the stock-only recipe (run exactly as the doc prints it) refuses it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integrity.conftest import IMAGE, VERSION
from tests.integrity.gpgkit import Keys, destroy_home, new_home

DOC = Path(__file__).resolve().parents[2] / "docs" / "verifying.md"


def recipe() -> str:
    text = DOC.read_text(encoding="utf-8")
    found = re.search(
        r"<!-- stock-recipe:begin -->\n```bash\n(.*?)```\n<!-- stock-recipe:end -->", text, re.S
    )
    assert found, "docs/verifying.md lost its stock recipe block"
    return found.group(1)


@pytest.fixture
def home() -> Iterator[Path]:
    made = new_home()
    yield made
    destroy_home(made)


def stock(directory: Path, key: Path, home: Path) -> int:
    """Section 1 of the doc, as printed: import, gpg --verify, sha256sum -c --strict."""
    env = {**os.environ, "GNUPGHOME": str(home)}
    script = (
        f"gpg --batch --import {key} && gpg --batch --verify sha256sum.txt.asc sha256sum.txt"
        " && sha256sum -c --strict sha256sum.txt"
    )
    proc = subprocess.run(
        ["bash", "-c", script], cwd=directory, env=env, capture_output=True, check=False
    )
    return proc.returncode


def run_recipe(directory: Path, key: Path, fpr: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KEY": str(key), "FPR": fpr}
    env.pop("GNUPGHOME", None)
    return subprocess.run(
        ["bash", "-c", recipe()],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def key(keys: Keys, tmp_path: Path) -> Path:
    path = tmp_path / "RPM-GPG-KEY-release"
    path.write_bytes(keys.public["good"])
    return path


def test_the_recipe_passes_a_good_release(release_dir: Path, key: Path, keys: Keys) -> None:
    run = run_recipe(release_dir, key, keys.fpr["good"])
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip() == f"OK: {IMAGE} {VERSION}, signed by {keys.fpr['good']}"


def test_an_extra_file_passes_stock_tools_not_the_recipe(
    release_dir: Path, key: Path, keys: Keys, home: Path
) -> None:
    (release_dir / f"{IMAGE}-{VERSION}-openstack.qcow2.evil").write_bytes(b"unsigned")
    assert stock(release_dir, key, home) == 0
    run = run_recipe(release_dir, key, keys.fpr["good"])
    assert run.returncode == 1
    assert f"FAIL: not signed: {IMAGE}-{VERSION}-openstack.qcow2.evil" in run.stderr


@pytest.mark.parametrize(
    ("image", "version", "why"),
    [("centos6", VERSION, "another image's release"), (IMAGE, "20261231.1", "an older one")],
)
def test_a_release_under_another_name_passes_stock_tools_not_the_recipe(
    release_dir: Path, key: Path, keys: Keys, home: Path, image: str, version: str, why: str
) -> None:
    served = release_dir.parents[1] / "served" / image / version
    served.parent.mkdir(parents=True)
    shutil.move(release_dir, served)
    assert stock(served, key, home) == 0, why
    run = run_recipe(served, key, keys.fpr["good"])
    assert run.returncode == 1
    assert f"FAIL: this is {IMAGE} {VERSION}, not {image} {version}" in run.stderr


def test_another_key_in_the_keyring_passes_stock_tools_not_the_recipe(
    release_dir: Path, keys: Keys, tmp_path: Path, home: Path
) -> None:
    keys.sign_release_file(release_dir, "sha256sum.txt", signer="el6")
    both = tmp_path / "both.asc"
    both.write_bytes(keys.public["good"] + keys.public["el6"])
    assert stock(release_dir, both, home) == 0
    run = run_recipe(release_dir, both, keys.fpr["good"])
    assert run.returncode == 1
    assert f"FAIL: sha256sum.txt: not signed by {keys.fpr['good']}" in run.stderr


def test_a_revoked_key_passes_stock_gpg_not_the_recipe(
    release_dir: Path, keys: Keys, tmp_path: Path, home: Path
) -> None:
    keys.sign_release_file(release_dir, "sha256sum.txt", signer="revoked")
    revoked = tmp_path / "revoked.asc"
    revoked.write_bytes(keys.public["revoked"])
    assert stock(release_dir, revoked, home) == 0
    run = run_recipe(release_dir, revoked, keys.fpr["revoked"])
    assert run.returncode == 1
    assert "FAIL: sha256sum.txt: a bad, expired or revoked signature" in run.stderr


def test_a_path_in_the_checksum_file_is_refused(release_dir: Path, key: Path, keys: Keys) -> None:
    listing = release_dir / "sha256sum.txt"
    listing.write_text(listing.read_text() + f"{'0' * 64}  ../../etc/passwd\n")
    keys.sign_release_file(release_dir, "sha256sum.txt")
    run = run_recipe(release_dir, key, keys.fpr["good"])
    assert run.returncode == 1
    assert "FAIL: sha256sum.txt: a line is not 'SHA256  NAME'" in run.stderr
