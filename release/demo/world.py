"""The files of the demo's config repo, as text: pure functions of where the demo lives.

Two small images (EL6-like and EL7-like) built from the demo's local package repos, four
channels, one filesystem mirror, and the trust file naming the demo's signing key.
"""

from __future__ import annotations

from pathlib import Path

IMAGES = {6: "demo-el6", 7: "demo-el7"}
FIRST_VERSION = {6: "6.10.1", 7: "7.9.1"}
BUMPED_EL7 = "7.9.2"
KEY_NAME = "demo"
KEY_FILE = f"{KEY_NAME}.asc"
TARGET = "mirror"
CHANNELS = ("el6-testing", "el6-stable", "el7-testing", "el7-stable")
DISK_SIZE = "64MiB"
# The stand-in kernel makes the image carry GRUB; boot-kernel is a real one that boots in QEMU.
BASE_PACKAGES = ("filesystem", "busybox", "openssh-server", "initscripts", "cloud-init")


def image_yaml(el: int, repo: Path, kernel: str) -> str:
    packages = ", ".join([*BASE_PACKAGES, kernel, "policycoreutils"])
    return f"""\
# A small EL{el}-like image from the demo's local package repo. Bump `version` to release.
name: {IMAGES[el]}
version: "{FIRST_VERSION[el]}"
description: Demo EL{el}-like cloud image
el: {el}
arch: x86_64
sources:
  - name: demo
    baseurl: file://{repo}
    gpgcheck: false
packages: [{packages}]
disk:
  size: {DISK_SIZE}
variants:
  openstack: {{}}
  cloudstack: {{}}
  aws: {{}}
  gce: {{}}
formats: [qcow2, raw, vhd, ova, gce]
hardware:
  cpus: 1
  memory: 512MiB
"""


def channel_yaml(name: str) -> str:
    el = int(name[2])
    image = IMAGES[el]
    if name.endswith("-testing"):
        return f"""\
# Users of {name} get every new version of {image} as soon as it is released.
description: EL{el}, newest build
image: {image}
version: latest
targets: [{TARGET}]
"""
    return f"""\
# Pinned; `release promote --from el{el}-testing --to {name}` moves the pin.
description: EL{el}, promoted from el{el}-testing
image: {image}
version: "{FIRST_VERSION[el]}"
targets: [{TARGET}]
"""


def target_yaml(mirror: Path) -> str:
    return f"""\
# The demo's mirror: a directory anyone can read, laid out <image>/<version>/.
type: filesystem
path: {mirror}
"""


def trust_yaml(fingerprint: str) -> str:
    return f"""\
# Which public keys (files in this folder) may sign which channels.
keys:
  {KEY_NAME}:
    file: {KEY_FILE}
    fingerprint: {fingerprint}
    channels: ["el6-*", "el7-*"]
"""


def config_files(
    repos: dict[int, Path], kernel: str, mirror: Path, public_key: bytes, fingerprint: str
) -> dict[str, bytes]:
    """Every file of the demo config repo's first commit, by path."""
    files = {f"images/{IMAGES[el]}.yaml": image_yaml(el, repos[el], kernel) for el in IMAGES}
    files |= {f"channels/{name}.yaml": channel_yaml(name) for name in CHANNELS}
    files[f"targets/{TARGET}.yaml"] = target_yaml(mirror)
    files["keys/trust.yaml"] = trust_yaml(fingerprint)
    data = {path: text.encode() for path, text in files.items()}
    data[f"keys/{KEY_FILE}"] = public_key
    return data
