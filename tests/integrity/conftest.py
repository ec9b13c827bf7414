from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from release.integrity.releasedir import ReleaseInfo, seal
from release.integrity.signing import SigningConfig, open_signer
from tests.integrity.gpgkit import Keys, destroy_home, make_keys, write_keys_dir

IMAGE = "centos7"
VERSION = "20261124.1"
VARIANTS = ("openstack", "gce")
PACKAGES = (
    "bash\t0\t4.2.46\t35.el7_9\tx86_64\n"
    "kernel\t0\t3.10.0\t1160.el7\tx86_64\n"
    "kernel\t0\t3.10.0\t1160.2.1.el7\tx86_64\n"
    "openssl-libs\t1\t1.0.2k\t26.el7_9\tx86_64\n"
)


@pytest.fixture(scope="session")
def keys() -> Iterator[Keys]:
    made = make_keys()
    yield made
    destroy_home(made.home)
    destroy_home(made.revoked_home)


@pytest.fixture
def keys_dir(keys: Keys, tmp_path: Path) -> Path:
    trust = {"good": ["*"], "el6": ["el6-*"], "expired": ["*"], "revoked": ["*"]}
    return write_keys_dir(keys, tmp_path / "keys", trust)


def release_info() -> ReleaseInfo:
    return ReleaseInfo(
        image=IMAGE,
        version=VERSION,
        variants=VARIANTS,
        commit="0123456789abcdef0123456789abcdef01234567",
        builder="test-builder",
        build_time=dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC),
        tools={"qemu-img": "8.2.0"},
    )


def write_inputs(directory: Path) -> None:
    """Two variants: a qcow2 and a GCE tar.gz, with their package lists."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{IMAGE}-{VERSION}-openstack.qcow2").write_bytes(os.urandom(300_000))
    (directory / f"{IMAGE}-{VERSION}-gce.tar.gz").write_bytes(os.urandom(200_000))
    for variant in VARIANTS:
        (directory / f"{IMAGE}-{VERSION}-{variant}.packages").write_text(PACKAGES)


@pytest.fixture
def release_dir(keys: Keys, tmp_path: Path) -> Path:
    """A sealed release signed by the 'good' key."""
    directory = tmp_path / IMAGE / VERSION
    write_inputs(directory)
    with open_signer(SigningConfig(gnupghome=keys.home, fingerprint=keys.fpr["good"])) as signer:
        seal(directory, release_info(), signer)
    return directory
