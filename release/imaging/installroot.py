"""The installroot builder's root tree: `dnf --installroot` from the definition's repos, then
the cloud template applied, with the host tools' traces removed.

Runs as root, or inside `unshare -r` (a user namespace) otherwise. The dnf argv is a pure
function of the definition; only `install_tree` and `finish_tree` touch the disk.
"""

from __future__ import annotations

import os
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from release import runner
from release.errors import InvalidInput, OperationError, ToolError, VerificationError
from release.imaging import bootloader, grubcfg, manifest, rootfs, steps
from release.imaging.features import Rendering
from release.integrity import keyinfo
from release.model.image import ImageDefinition, PackageSource
from release.model.template import EL

# What dnf and Debian's rpm leave in the tree that an EL6/EL7 system never has.
HOST_TRACES = ("var/cache/dnf", "var/lib/dnf", "var/log/dnf.log", "var/log/dnf.librepo.log")
HOST_TRACE_GLOBS = ("var/log/dnf*.log", "var/log/hawkey.log")


def repo_options(source: PackageSource, key: Path | None = None) -> list[str]:
    """dnf options for one repo; `key` is the local, fingerprint-checked copy of its gpgkey."""
    opts = [
        f"--repofrompath={source.name},{source.baseurl}",
        f"--setopt={source.name}.gpgcheck={1 if source.gpgcheck else 0}",
        f"--setopt={source.name}.skip_if_unavailable=False",
    ]
    if key is not None:
        opts.append(f"--setopt={source.name}.gpgkey=file://{key}")
    elif source.gpgkey:
        opts.append(f"--setopt={source.name}.gpgkey={source.gpgkey}")
    return opts


def fetch_keys(sources: Sequence[PackageSource], dest: Path) -> dict[str, Path]:
    """Download each repo's gpgkey once, check it against `gpgkey_fingerprint` when pinned,
    and keep a local copy for dnf, so the key dnf imports is the key that was checked."""
    keys: dict[str, Path] = {}
    for source in sources:
        if not (source.gpgcheck and source.gpgkey):
            continue
        data = _download(source.gpgkey, f"the gpgkey of repo {source.name!r}")
        if source.gpgkey_fingerprint:
            found = tuple(key.fingerprint for key in keyinfo.read_key_bytes(data))
            if source.gpgkey_fingerprint not in found:
                raise VerificationError(
                    f"repo {source.name!r}: the key at {source.gpgkey} has fingerprint(s)"
                    f" {', '.join(found) or 'none (not an OpenPGP key)'}, not the pinned"
                    f" {source.gpgkey_fingerprint}: the key was replaced, or the pin is wrong"
                )
        dest.mkdir(parents=True, exist_ok=True)
        keys[source.name] = dest / f"{source.name}.asc"
        keys[source.name].write_bytes(data)
    return keys


def _download(url: str, what: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - http(s)/file URLs from the definition
            data: bytes = response.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise OperationError(f"cannot download {what} from {url}: {exc}") from exc
    return data


def dnf_argv(
    image: ImageDefinition,
    variant: str,
    root: Path,
    packages: Sequence[str],
    cachedir: Path = Path("/var/cache/dnf"),
    keys: Mapping[str, Path] | None = None,
) -> list[str]:
    """Install `packages` into `root` from exactly the variant's repos: no host repo
    (`reposdir=/dev/null`), no weak dependencies, no docs. dnf keeps its metadata lock at
    `cachedir` on the host and the metadata at `cachedir` inside the root, so an absolute
    work path works unprivileged too (the host's /var/cache/dnf is root's)."""
    sources = image.sources_for(variant)
    argv = [
        "dnf",
        "-y",
        f"--installroot={root}",
        f"--releasever={image.el}",
        f"--forcearch={image.arch}",
        "--setopt=reposdir=/dev/null",
        "--setopt=install_weak_deps=False",
        "--setopt=tsflags=nodocs",
        f"--setopt=cachedir={cachedir}",
        "--setopt=keepcache=False",
        "--disablerepo=*",
    ]
    for source in sources:
        argv += repo_options(source, (keys or {}).get(source.name))
    argv += [f"--enablerepo={s.name}" for s in sources]
    argv += [f"--exclude={name}" for name in image.excludes_for(variant)]
    argv += ["install", *packages]
    return argv


def packages_to_install(image: ImageDefinition, variant: str, part: Rendering) -> list[str]:
    wanted = list(image.packages_for(variant))
    wanted += [p for p in part.packages if p not in wanted]
    return wanted


def rpm_home(base: Path) -> dict[str, str]:
    """A HOME whose .rpmmacros puts the rpmdb at /var/lib/rpm: Debian's rpm defaults to
    ~/.rpmdb, where an EL system would never look."""
    base.mkdir(parents=True, exist_ok=True)
    (base / ".rpmmacros").write_text(f"%_dbpath {manifest.DBPATH}\n")
    return {"HOME": str(base)}


def privilege_wrap(euid: int, userns_ok: bool) -> list[str]:
    if euid == 0:
        return []
    if userns_ok:
        return ["unshare", "-r"]
    raise OperationError(
        "building needs root, or user namespaces for `unshare -r`, and this host allows neither:"
        " run the build as root, or enable unprivileged user namespaces"
        " (sysctl kernel.unprivileged_userns_clone=1 / user.max_user_namespaces > 0)"
    )


def check_relabel(euid: int, relabel_build: bool) -> None:
    """Labels are `security.selinux` attributes, which only real root may set (not root in a
    user namespace): refuse before building rather than fail in setfiles."""
    if relabel_build and euid != 0:
        raise OperationError(
            "relabel: build writes SELinux labels, which needs real root (a user namespace"
            " cannot set security.selinux): run the build as root, or set relabel: first-boot"
        )


def userns_available() -> bool:
    if runner.which("unshare") is None:
        return False
    try:
        runner.run(["unshare", "-r", "true"], timeout=20)
    except ToolError:
        return False
    return True


def explain_dnf_failure(error: ToolError, image: ImageDefinition, variant: str) -> Exception:
    """Turn dnf's stderr into an error that says what to fix in the definition."""
    text = error.stderr
    where = f"image {image.name}, variant {variant}"
    repo = re.search(r"Failed to download metadata for repo '([^']+)'", text)
    if repo:
        return OperationError(
            f"{where}: repo {repo.group(1)!r} is unreachable or broken (dnf could not read its"
            " metadata): check its baseurl and that the mirror serves a valid repodata/"
        )
    if re.search(r"GPG check FAILED|is not signed|Public key for .* is not installed", text):
        return OperationError(
            f"{where}: packages failed their signature check (gpgcheck is on): check the repo's"
            " gpgkey, or that the repo is the one you meant; dnf said:\n"
            + "\n".join(
                line for line in text.splitlines() if re.search(r"signed|GPG|Public key", line)
            )
        )
    missing = re.findall(r"Unable to find a match: (.+)", text)
    if missing:
        names = sorted({name for found in missing for name in found.split()})
        return InvalidInput(
            f"{where}: no repo has the package(s) {', '.join(names)}:"
            " fix `packages` in the image definition or add the repo that has them"
        )
    return error


def install_tree(
    image: ImageDefinition,
    variant: str,
    root: Path,
    packages: Sequence[str],
    home: Path,
    wrap: Sequence[str] = (),
) -> None:
    root.mkdir(parents=True, exist_ok=True)
    env = rpm_home(home)
    cachedir = home.parent.resolve() / "dnf-cache"
    keys = fetch_keys(image.sources_for(variant), home.resolve() / "keys")
    argv = dnf_argv(image, variant, root, packages, cachedir, keys)
    try:
        runner.run([*wrap, *argv], env=env)
    except ToolError as exc:
        raise explain_dnf_failure(exc, image, variant) from exc
    _remove_inside(root, cachedir)
    if not (root / manifest.DBPATH.lstrip("/")).is_dir():
        raise OperationError(f"dnf left no rpmdb at {manifest.DBPATH} in {root}")


def _remove_inside(root: Path, path: Path) -> None:
    """Remove `root/path` and the parents it leaves empty (dnf's metadata in the tree)."""
    inside = root / path.relative_to("/")
    if inside.is_dir() and not inside.is_symlink():
        shutil.rmtree(inside)
    parent = inside.parent
    while parent != root and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def remove_host_traces(root: Path) -> None:
    for rel in HOST_TRACES:
        path = root / rel
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    for pattern in HOST_TRACE_GLOBS:
        for found in root.glob(pattern):
            found.unlink()


def kernel_files(root: Path) -> tuple[str, str | None, str] | None:
    """(vmlinuz name, initramfs name or None, kernel version) of the newest kernel in /boot."""
    kernels = sorted((root / "boot").glob("vmlinuz-*"))
    if not kernels:
        return None
    name = kernels[-1].name
    kver = name.removeprefix("vmlinuz-")
    for candidate in (f"initramfs-{kver}.img", f"initrd-{kver}.img", f"initrd.img-{kver}"):
        if (root / "boot" / candidate).is_file():
            return name, candidate, kver
    return name, None, kver


def finish_tree(
    root: Path,
    part: Rendering,
    root_uuid: str,
    el: EL,
    relabel_build: bool,
    wrap: Sequence[str] = (),
) -> None:
    """Apply the template, write fstab, rebuild the initramfs and relabel where the image can
    (its own dracut and setfiles, in a chroot), and install the bootloader (`bootloader`)."""
    remove_host_traces(root)
    rootfs.apply_edit(root, part.edit)
    steps.switch_services(root, el, part.enable, part.disable, wrap)
    steps.lock_root(root)
    (root / "etc" / "fstab").write_text(rootfs.fstab(root_uuid))
    kernel = kernel_files(root)
    if kernel is not None:
        vmlinuz, initrd, kver = kernel
        dracut = next((p for p in ("usr/bin/dracut", "sbin/dracut") if (root / p).exists()), None)
        if dracut and (root / "lib" / "modules" / kver).is_dir():
            # Puts the paravirt drivers of /etc/dracut.conf.d into the initramfs.
            initramfs = f"/boot/initramfs-{kver}.img"
            argv = ["chroot", str(root), "/" + dracut, "-f", "--no-hostonly", initramfs, kver]
            runner.run([*wrap, *argv])
        boot = grubcfg.Kernel(vmlinuz, initrd, kver)
        bootloader.install(root, el, boot, root_uuid, part.kernel_args, wrap)
    if relabel_build:
        relabel(root, wrap)
    steps.remove_leftovers(root, part.cleanup)  # last: relabelling and dracut leave some
    os.sync()


def relabel(root: Path, wrap: Sequence[str] = ()) -> None:
    contexts = "/etc/selinux/targeted/contexts/files/file_contexts"
    setfiles = root / "usr" / "sbin" / "setfiles"
    if not setfiles.exists():
        raise OperationError(
            "relabel: build needs the image's own setfiles (policycoreutils) to label files at"
            " build time, and the image has none: add policycoreutils, or set relabel:"
            " first-boot in the template"
        )
    runner.run([*wrap, "chroot", str(root), "/usr/sbin/setfiles", "-F", contexts, "/"])
