"""`release init DIR`: a config repo of one's own, ready for `release check`.

The files are this package's own (release/data/init): the CentOS 7 image and its two
channels as this repository ships them, a filesystem mirror target, keys/ with trust.yaml
and its README, and GitHub workflows that install this very version of the tool from its
package. `files` is pure; `scaffold` writes them, never over an existing file.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from release import __version__, fsutil, runner
from release.errors import InvalidInput

PACKAGE = "image-release"
# Dot-files are stored without their dot: package data globs skip hidden paths.
RENAMES = {"github/": ".github/", "gitignore": ".gitignore"}
# What the release workflow installs: the tools `release reconcile` runs (see release doctor).
APT_PACKAGES = (
    "git gnupg qemu-utils tar pigz xz-utils rpm dnf createrepo-c fdisk e2fsprogs"
    " cloud-guest-utils grub-pc-bin rsync openssh-client"
)


def _walk(folder: resources.abc.Traversable, prefix: str = "") -> dict[str, bytes]:
    found = {}
    for entry in folder.iterdir():
        name = f"{prefix}{entry.name}"
        if entry.is_dir():
            found.update(_walk(entry, name + "/"))
        elif not entry.name.startswith(".") and entry.name != "__init__.py":
            found[name] = entry.read_bytes()
    return found


def _target_path(name: str) -> str:
    for stored, real in RENAMES.items():
        if name.startswith(stored):
            return real + name[len(stored) :]
    return name


def files(version: str = __version__) -> dict[str, bytes]:
    """The scaffold, by path relative to the new repo; workflows pin `version`."""
    found = {}
    for name, data in _walk(resources.files("release") / "data" / "init").items():
        if name.endswith(".yml"):
            text = data.decode().replace("@VERSION@", version).replace("@APT@", APT_PACKAGES)
            data = text.encode()
        found[_target_path(name)] = data
    return dict(sorted(found.items()))


def scaffold(directory: Path) -> list[str]:
    """Write the scaffold into `directory` (made if missing) and `git init` it if it is not a
    repository yet. Refuses, before writing anything, when any of its files exists."""
    directory = Path(directory)
    wanted = files()
    clashes = [name for name in wanted if (directory / name).exists()]
    if clashes:
        raise InvalidInput(
            f"{directory}: {', '.join(clashes[:5])} already exist(s): `release init` writes"
            " only into a new or empty directory"
        )
    for name, data in wanted.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        fsutil.write_bytes(path, data)
    if not (directory / ".git").exists():
        runner.run(["git", "init", "-q", "-b", "main", str(directory)])
    return list(wanted)
