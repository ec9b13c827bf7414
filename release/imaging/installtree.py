"""Where the EL installer comes from: an install tree (URL or local directory) or an ISO.

Every EL install tree and DVD carries the installer's kernel and initrd at
`images/pxeboot/vmlinuz` and `images/pxeboot/initrd.img`; the kickstart builder boots those.
A URL tree is fetched over HTTP(S) (bounded in size and time), a directory read in place, an
ISO read with `xorriso` (no mounting) and attached to the guest as its CD-ROM, from which the
installer then takes its packages (`cdrom` instead of the kickstart's `url` line).
"""

from __future__ import annotations

import re
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from release import runner
from release.errors import InvalidInput, OperationError

BOOT_FILES = ("images/pxeboot/vmlinuz", "images/pxeboot/initrd.img")
MAX_BOOT_FILE = 512 << 20  # an EL7 initrd.img is ~50 MiB; anything past this is not one
FETCH_TIMEOUT = 60  # seconds without a byte before a download gives up

Kind = Literal["url", "dir", "iso"]


@dataclass(frozen=True)
class InstallTree:
    kind: Kind
    where: str  # the URL, or an absolute path

    def __str__(self) -> str:
        return self.where


def resolve(spec: str) -> InstallTree:
    """An install tree from the definition's `install_tree`, `--install-tree` or a baseurl."""
    if spec.startswith(("http://", "https://")):
        return InstallTree("url", spec.rstrip("/") + "/")
    path = Path(spec.removeprefix("file://")).absolute()
    if path.is_dir():
        return InstallTree("dir", str(path))
    if path.is_file() and path.suffix.lower() == ".iso":
        return InstallTree("iso", str(path))
    raise InvalidInput(
        f"install tree {spec}: not an http(s) URL, an existing directory or a .iso file"
        " (give the tree that has images/pxeboot/, e.g. .../centos/7/os/x86_64/)"
    )


def xorriso_extract_argv(iso: Path, inside: str, dest: Path) -> list[str]:
    return ["xorriso", "-osirrox", "on", "-indev", str(iso), "-extract", "/" + inside, str(dest)]


def boot_files(tree: InstallTree, dest: Path) -> tuple[Path, Path]:
    """(vmlinuz, initrd.img) of the tree's installer, copied into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    found = []
    for inside in BOOT_FILES:
        out = dest / Path(inside).name
        if tree.kind == "url":
            _download(tree.where + inside, out, tree)
        elif tree.kind == "dir":
            src = Path(tree.where, inside)
            if not src.is_file():
                raise _missing(tree, inside)
            shutil.copyfile(src, out)
        else:
            done = runner.run(xorriso_extract_argv(Path(tree.where), inside, out), check=False)
            if done.returncode != 0 or not out.is_file():
                raise _missing(tree, inside)
        found.append(out)
    return found[0], found[1]


def _missing(tree: InstallTree, inside: str) -> InvalidInput:
    return InvalidInput(
        f"install tree {tree}: no {inside} (an EL install tree or DVD ISO has"
        f" {' and '.join(BOOT_FILES)}; a minimal/cloud image or a package repo alone does not)"
    )


def _download(url: str, out: Path, tree: InstallTree) -> None:
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as reply, out.open("wb") as fh:  # noqa: S310 - http(s) only, checked in resolve
            total = 0
            while chunk := reply.read(1 << 20):
                total += len(chunk)
                if total > MAX_BOOT_FILE:
                    raise OperationError(f"{url} is larger than {MAX_BOOT_FILE >> 20} MiB")
                fh.write(chunk)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise _missing(tree, url.removeprefix(tree.where)) from exc
        raise OperationError(f"fetching {url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise OperationError(f"fetching {url}: {exc}") from exc


_URL_LINE = re.compile(r"^url --url=\S+$", re.MULTILINE)


def kickstart_for(text: str, tree: InstallTree, served: str | None) -> str:
    """The kickstart's package source for this tree: its URL, the CD-ROM for an ISO, or for
    a local directory the URL (`served`) under which the builder's HTTP server offers it."""
    if tree.kind == "iso":
        return _URL_LINE.sub("cdrom", text, count=1)
    url = tree.where if tree.kind == "url" else served
    return _URL_LINE.sub(f"url --url={url}", text, count=1) if url else text
