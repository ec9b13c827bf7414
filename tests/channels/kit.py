"""A config repo of fixture images as users share it (bare remote, clone, merged branches),
and sealed release dirs made cheaply (random artifacts, real signatures) so reconcile runs
without building."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from release.integrity.releasedir import ReleaseInfo, seal
from release.integrity.signing import SigningConfig, open_signer
from release.pipeline import Workspace
from tests.conftest import git
from tests.gitops import Remote
from tests.integrity.gpgkit import Keys, write_keys_dir

IMAGE = "fixture-el7"
PACKAGES = "busybox\t0\t1.36\t1.el7\tnoarch\n"


def image_yaml(version: str, baseurl: str = "file:///nonexistent/repo") -> str:
    return f"""# a fixture image
name: {IMAGE}
version: "{version}"
el: 7
sources:
  - name: local
    baseurl: {baseurl}
    gpgcheck: false
packages: [filesystem, busybox, kernel, openssh-server, initscripts, cloud-init, policycoreutils]
disk:
  size: 64MiB
variants:
  openstack: {{}}
formats: [qcow2]
"""


def channel_yaml(version: str, targets: str = "[mirror]") -> str:
    return f"image: {IMAGE}\nversion: {version}\ntargets: {targets}\n"


@dataclass
class ConfigKit:
    remote: Remote
    clone: Path
    signing: SigningConfig


def make_config(root: Path, keys: Keys, *, baseurl: str = "file:///nonexistent/repo",
                target: str = "type: filesystem\npath: mirror\n") -> ConfigKit:  # fmt: skip
    seed = root / "seed"
    for folder in ("images", "channels", "targets"):
        (seed / folder).mkdir(parents=True)
    (seed / "images" / f"{IMAGE}.yaml").write_text(image_yaml("1.0.0", baseurl))
    (seed / "channels" / "fx-testing.yaml").write_text(channel_yaml("latest"))
    (seed / "channels" / "fx-stable.yaml").write_text(channel_yaml('"1.0.0"'))
    (seed / "targets" / "mirror.yaml").write_text(target)
    write_keys_dir(keys, seed / "keys", {"good": ["fx-*"], "el6": ["el6-*"]})
    git(seed, "init", "-q", "-b", "main")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "initial config")
    remote = Remote(seed, root)
    signing = SigningConfig(gnupghome=keys.home, fingerprint=keys.fpr["good"], key_env=None)
    return ConfigKit(remote, remote.clone("ops"), signing)


EXTENSIONS = {
    "openstack": "qcow2",
    "aws": "vhd",
    "gce": "tar.gz",
    "cloudstack": "qcow2",
    "azure": "vhd",
}


def sealed_release(
    workspace: Workspace,
    keys: Keys,
    version: str,
    image: str = IMAGE,
    variants: tuple[str, ...] = ("openstack",),
    size: int = 50_000,
    signer: str = "good",
    write: Callable[[Path, int], None] | None = None,
) -> Path:
    """A sealed release dir where make_release would put it: reconcile reuses it. One artifact
    of `size` random bytes per variant: openstack a qcow2, aws a vhd, gce a tar.gz (or what
    `write(path, size)` writes there); sealed with the `signer` key of `keys`."""
    directory = workspace.release_dir(image, version)
    directory.mkdir(parents=True)
    for variant in variants:
        artifact = f"{image}-{version}-{variant}.{EXTENSIONS[variant]}"
        if write is None:
            (directory / artifact).write_bytes(os.urandom(size))
        else:
            write(directory / artifact, size)
        (directory / f"{image}-{version}-{variant}.packages").write_text(PACKAGES)
    info = ReleaseInfo(
        image=image,
        version=version,
        variants=variants,
        commit="0" * 40,
        builder="test",
        build_time=dt.datetime(2026, 11, 24, tzinfo=dt.UTC),
    )
    config = SigningConfig(gnupghome=keys.home, fingerprint=keys.fpr[signer], key_env=None)
    with open_signer(config) as opened:
        seal(directory, info, opened)
    return directory
