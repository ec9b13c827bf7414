"""Build one variant of an image into a raw disk and its package manifest, cached by id.

`build(image, variant, out_dir)` is the library entry point the CLI calls. The builder is
chosen per image (`builder: installroot | kickstart`); both sit behind the `Builder`
protocol and produce `disk.raw` in a work directory that becomes the cache entry only when
everything (disk, manifest, record) is complete.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from release import fsutil, progress, runner, tools
from release.errors import InvalidInput, OperationError, ToolError, ToolMissing
from release.imaging import (
    cache,
    disk,
    installroot,
    kickstart,
    kickstart_builder,
    manifest,
    qemu_builder,
    reproducible,
    rpmdb,
    steps,
)
from release.imaging.qemu_builder import QemuOptions
from release.model.agents import missing_repos
from release.model.image import ImageDefinition
from release.model.template import contradictions

OUT_SUFFIXES = (".raw", ".manifest.txt", ".manifest.json")


@dataclass(frozen=True)
class BuildResult:
    image: str
    version: str
    variant: str
    build_id: str
    cached: bool
    raw_path: Path
    manifest_path: Path  # NAME EPOCH VERSION RELEASE ARCH, one per line
    manifest_json_path: Path
    tools: dict[str, str]
    rpmdb_backend: str
    seconds: float
    repos: dict[str, str] = field(default_factory=dict)  # repo name -> repomd.xml digest

    def to_dict(self) -> dict[str, object]:
        return {
            "image": self.image,
            "version": self.version,
            "variant": self.variant,
            "build_id": self.build_id,
            "cached": self.cached,
            "raw": str(self.raw_path),
            "manifest": str(self.manifest_path),
            "manifest_json": str(self.manifest_json_path),
            "tools": self.tools,
            "rpmdb_backend": self.rpmdb_backend,
            "seconds": round(self.seconds, 3),
        }


class Builder(Protocol):
    name: str
    tools: tuple[str, ...]

    def build_disk(
        self, image: ImageDefinition, variant: str, work: Path, build_id: str, sde: int
    ) -> str:
        """Write `work/disk.raw` with every clock at `sde` (SOURCE_DATE_EPOCH); return the
        rpmdb backend the image carries."""


def root_uuid(build_id: str) -> str:
    """The filesystem UUID, derived from the build id so a rebuild is reproducible."""
    return str(uuid.UUID(build_id[:32], version=4))


class InstallrootBuilder:
    name = "installroot"
    tools: tuple[str, ...] = (
        "dnf",
        "rpm",
        "sfdisk",
        "mkfs.ext4",
        "e2fsck",
        "debugfs",
        "grub-mkimage",
    )

    def build_disk(
        self, image: ImageDefinition, variant: str, work: Path, build_id: str, sde: int
    ) -> str:
        wrap = installroot.privilege_wrap(os.geteuid(), installroot.userns_available())
        part = kickstart.rendering_for(image, variant)
        tree = work / "tree"
        template = image.template_for(variant)
        relabel_build = template.selinux != "disabled" and template.relabel == "build"
        installroot.check_relabel(os.geteuid(), relabel_build)
        packages = installroot.packages_to_install(image, variant, part)
        host_backend = rpmdb.host_backend()
        rpmdb.require_writer(host_backend)
        with progress.task(f"{variant}: install packages"):
            installroot.install_tree(image, variant, tree, packages, work / "home", wrap)
            env = installroot.rpm_home(work / "home")
            steps.erase_packages(tree, part.remove_packages, env, wrap)
        with progress.task(f"{variant}: the rpmdb EL{image.el}'s rpm reads"):
            backend = rpmdb.make_native(tree, host_backend, wrap, when=sde)
        fs_uuid = root_uuid(build_id)
        with progress.task(f"{variant}: apply the cloud template"):
            installroot.finish_tree(tree, part, fs_uuid, image.el, relabel_build, wrap)
            reproducible.normalise_shadow(tree, sde)
        with progress.task(f"{variant}: assemble the disk", image.disk.size, nbytes=True) as t:
            disk.assemble(tree, work / "disk.raw", image.el, image.disk.size, fs_uuid, sde, wrap)
            t.advance(image.disk.size)
        shutil.rmtree(tree)
        return backend


class KickstartBuilder:
    name = "kickstart"

    def __init__(self, image: ImageDefinition, options: QemuOptions | None = None) -> None:
        self.options = options or QemuOptions()
        if image.installer == "qemu":
            self.tools: tuple[str, ...] = qemu_builder.tools_for(image)
        else:
            self.tools = (image.installer, "sfdisk", "debugfs", "rpm")

    def build_disk(
        self, image: ImageDefinition, variant: str, work: Path, build_id: str, sde: int
    ) -> str:
        # The installer reads its own clocks: its disks are not made reproducible (yet).
        text = kickstart.render_valid(image, variant)
        if image.installer == "qemu":
            log = qemu_builder.console_log_for(work, image, variant, build_id)
            with progress.task(f"{variant}: install in QEMU"):
                made = qemu_builder.install(image, variant, text, work, self.options, log)
        else:
            ks = work / f"{image.name}-{variant}.ks"
            fsutil.write_text(ks, text)
            with progress.task(f"{variant}: run {image.installer}"):
                made = kickstart_builder.run_installer(image, variant, ks, work)
        made.replace(work / "disk.raw")
        return "bdb"  # written by the target's own rpm inside the installer


def builder_for(image: ImageDefinition, options: QemuOptions | None = None) -> Builder:
    if image.builder == "kickstart":
        if image.installer == "livemedia-creator":
            kickstart_builder.require_el_host()
        return KickstartBuilder(image, options)
    return InstallrootBuilder()


def require_tools(names: tuple[str, ...]) -> None:
    for name in names:
        if runner.which(name) is None:
            tool = tools.lookup(name)
            hint = tool.install_hint() if tool else "install it and put it on PATH"
            raise ToolMissing(name, hint)


def check_variant(image: ImageDefinition, variant: str) -> None:
    if variant not in image.variants:
        raise InvalidInput(
            f"image {image.name} has no variant {variant!r} (it has: {', '.join(image.variants)})"
        )
    problems = contradictions(image.template_for(variant))
    if problems:
        raise InvalidInput(
            f"image {image.name}, variant {variant}: the template contradicts itself: "
            + "; ".join(why for _, why in problems)
        )
    missing = missing_repos(image, variant)
    if missing:
        raise InvalidInput(f"image {image.name}: {missing[0].message}; {missing[0].hint}")
    if image.builder == "installroot" and image.template_for(variant).swap:
        raise InvalidInput(
            f"image {image.name}, variant {variant}: swap: true is not supported by the"
            " installroot builder (it makes one root partition): add a swap file at boot,"
            " or use builder: kickstart"
        )


def output_names(image: ImageDefinition, variant: str, out_dir: Path) -> tuple[Path, Path, Path]:
    stem = f"{image.name}-{image.version}-{variant}"
    raw, text, js = (out_dir / f"{stem}{suffix}" for suffix in OUT_SUFFIXES)
    return raw, text, js


def build(
    image: ImageDefinition,
    variant: str,
    out_dir: Path,
    cache_dir: Path,
    builder: Builder | None = None,
    options: QemuOptions | None = None,
    sde: int | None = None,
) -> BuildResult:
    """Build (or reuse from the cache) one variant; put disk and manifests in `out_dir`.
    `sde` is the SOURCE_DATE_EPOCH (default: the environment's, else 0): the same inputs
    and SDE give the same bytes, and two SDEs never share a cache entry."""
    started = time.monotonic()
    # dnf wants an absolute installroot; relative --out/--cache are the CLI's everyday case.
    out_dir, cache_dir = out_dir.absolute(), cache_dir.absolute()
    check_variant(image, variant)
    chosen = builder or builder_for(image, options)
    require_tools(chosen.tools)
    sde = reproducible.source_date_epoch(os.environ, 0) if sde is None else sde
    store = cache.BuildCache(cache_dir)
    with _space_named(
        cache_dir, f"building {image.name} {variant}", "nothing was cached", "--cache"
    ):
        versions = cache.tool_versions(chosen.tools, cache_dir / "tools.json")
        repos = {s.name: cache.repomd_digest(s) for s in image.sources_for(variant)}
        build_id = cache.build_id(cache.variant_inputs(image, variant), repos, versions, sde)
        cached = store.done(build_id)
        if not cached:
            _build_entry(image, variant, chosen, store, build_id, versions, sde)
    entry = store.entry(build_id)
    record = json.loads((entry / "build.json").read_text())
    raw, text, js = _copy_out(entry, output_names(image, variant, out_dir))
    return BuildResult(
        image=image.name,
        version=image.version,
        variant=variant,
        build_id=build_id,
        cached=cached,
        raw_path=raw,
        manifest_path=text,
        manifest_json_path=js,
        tools=versions,
        rpmdb_backend=str(record["rpmdb_backend"]),
        seconds=time.monotonic() - started,
        repos=repos,
    )


def _copy_out(entry: Path, names: tuple[Path, Path, Path]) -> tuple[Path, Path, Path]:
    """Copy a cache entry's disk (sparse) and manifests to their output names."""
    raw, text, js = names
    with _space_named(raw.parent, "copying the build out", "the build stays cached", "--out"):
        raw.parent.mkdir(parents=True, exist_ok=True)
        disk.copy_sparse(entry / "disk.raw", raw)
        for src, dst in (("manifest.txt", text), ("manifest.json", js)):
            fsutil.write_bytes(dst, (entry / src).read_bytes())
    return names


# dnf checks the space a transaction needs before it writes ("At least 2MB more space needed
# on the / filesystem"); everything else that runs out meets ENOSPC.
_DNF_SHORT = re.compile(r"At least (\S+) more space needed|needs (\S+) more space")


def _no_space(exc: BaseException) -> str | None:
    """How a failure says the disk is full (empty when it just does), or None if it does not."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return ""
    if isinstance(exc, ToolError):
        short = _DNF_SHORT.search(exc.stderr)
        if short:
            return f" (dnf needs at least {short.group(1) or short.group(2)} more)"
        # rpm's sqlite rpmdb says it its own way (and dnf then dies with a traceback).
        if "No space left on device" in exc.stderr or "database or disk is full" in exc.stderr:
            return ""
    return None


@contextlib.contextmanager
def _space_named(where: Path, doing: str, left: str, option: str) -> Iterator[None]:
    """Turn a full disk under `where` into one clear error (a traceback or dnf's words before)."""
    try:
        yield
    except (ToolError, OSError) as exc:
        detail = _no_space(exc)
        if detail is None:
            raise
        raise OperationError(
            f"{where}: no space left on device while {doing}{detail}; {left}"
            f" (free some space or choose another {option})"
        ) from exc


def _build_entry(
    image: ImageDefinition,
    variant: str,
    chosen: Builder,
    store: cache.BuildCache,
    build_id: str,
    versions: dict[str, str],
    sde: int,
) -> None:
    work = store.workdir(build_id)
    # Files the build writes get the modes of EL's installer (umask 022), whatever the
    # caller's umask: a mode that followed the host would make two builds differ.
    umask = os.umask(0o022)
    try:
        backend = chosen.build_disk(image, variant, work, build_id, sde)
        raw = work / "disk.raw"
        with progress.task(f"{variant}: read the package manifest"):
            offset = disk.partition_offset(raw)
            packages = manifest.read_disk(raw, f"?offset={offset}")
        manifest.write(packages, work / "manifest.txt", work / "manifest.json")
        record = {
            "build_id": build_id,
            "image": image.name,
            "version": image.version,
            "variant": variant,
            "builder": chosen.name,
            "tools": versions,
            "rpmdb_backend": backend,
            "packages": len(packages),
            "source_date_epoch": sde,
        }
        fsutil.write_text(work / "build.json", json.dumps(record, indent=2, sort_keys=True))
        for leftover in ("home", "dnf-cache", "installer", "tree", "oemdrv.img"):
            shutil.rmtree(work / leftover, ignore_errors=True)
        store.commit(build_id, work)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        os.umask(umask)
