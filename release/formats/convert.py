"""Convert one raw disk to every requested format, concurrently, checking each output.

Everything is written into a hidden staging directory inside the output directory and
moved to its final name only when every requested output has been made and checked; a
failure or an interruption leaves nothing that looks finished.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from release import fsutil, progress, runner
from release.errors import InvalidInput, OperationError, ToolError
from release.formats import argv, check, gce, ova, rawdisk, vhd, vmdk
from release.formats.options import (
    MIB,
    RAW_XZ_SUFFIX,
    ConvertedFile,
    ConvertOptions,
    check_basename,
    output_name,
    round_up,
    too_large,
)
from release.model.target import Format
from release.owner import gone, owner_id

log = logging.getLogger(__name__)


def convert(
    raw: Path, out_dir: Path, basename: str, options: ConvertOptions
) -> list[ConvertedFile]:
    """Make `<basename>.<suffix>` in `out_dir` for each format in `options`; return them checked.

    Raises InvalidInput before doing anything for a bad disk, name, directory or size;
    OperationError/ToolError when a conversion fails; VerificationError when an output does
    not check out. In every failure case nothing is left in `out_dir`.
    """
    check_basename(basename)
    disk = rawdisk.inspect(raw)
    oversize = too_large(disk.size, options.formats)
    if oversize:
        raise InvalidInput(f"{raw}: too large for {'; '.join(oversize)}")
    staging = _staging_dir(out_dir, basename)
    try:
        (staging / OWNER).write_bytes(owner_id())  # for `_sweep_abandoned`, should we be killed
        with progress.task(f"convert {raw.name} to {', '.join(options.formats)}"):
            staged = _run(Job(disk, staging, basename, options))
        return _publish(staged, out_dir)
    except (ToolError, OSError) as exc:
        if _is_no_space(exc):
            raise _no_space(out_dir) from exc
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _is_no_space(exc: BaseException) -> bool:
    if isinstance(exc, ToolError):
        return "No space left on device" in exc.stderr
    return isinstance(exc, OSError) and exc.errno == errno.ENOSPC


def _no_space(out_dir: Path) -> OperationError:
    return OperationError(
        f"{out_dir}: no space left on device during the conversion; nothing was written"
        " (free some space or choose another --out)"
    )


OWNER = ".owner"  # in a staging dir: the `owner_id()` of the conversion that made it


def _staging_dir(out_dir: Path, basename: str) -> Path:
    """A fresh hidden staging dir (first sweeping those killed conversions left)."""
    if not out_dir.is_dir():
        raise InvalidInput(f"{out_dir}: no such directory (create it, or choose another --out)")
    _sweep_abandoned(out_dir, basename)
    try:
        return Path(tempfile.mkdtemp(prefix=f".{basename}.", suffix=".part", dir=out_dir))
    except OSError as exc:
        raise InvalidInput(
            f"{out_dir}: cannot write there ({exc.strerror}); choose a writable --out"
        ) from exc


def _sweep_abandoned(out_dir: Path, basename: str) -> None:
    """Remove what conversions of `basename` killed on this machine left behind (GBs each)."""
    for entry in out_dir.glob(f".{basename}.*.part"):
        owner = entry / OWNER
        if entry.is_symlink() or not owner.is_file() or not gone(owner.read_bytes()):
            continue
        log.info("%s: removing what a killed conversion left", entry)
        shutil.rmtree(entry, ignore_errors=True)


@dataclass
class Job:
    disk: rawdisk.RawDisk
    staging: Path
    basename: str
    options: ConvertOptions
    digest: Future[bytes] | None = None

    def path(self, name: str) -> Path:
        return self.staging / name

    @property
    def raw(self) -> Path:
        return self.disk.path

    def content_digest(self) -> bytes:
        """The raw disk's fingerprint, computed once alongside the conversions."""
        return self.digest.result() if self.digest else rawdisk.content_digest(self.raw)


Staged = tuple[Path, ConvertedFile]  # (file in staging, what it becomes)


def _run(job: Job) -> list[Staged]:
    """Two lanes: the compressing steps (OVA, GCE, xz) get the cores, at most `workers` at a
    time; the steps that mostly move bytes (qcow2, VHD, raw copy, the content digest) run
    one at a time beside them, so they finish while the compressors keep the cores busy."""
    formats, options = job.options.formats, job.options
    heavy: list[Callable[[Job], list[Staged]]] = []
    if "ova" in formats:
        heavy.append(_ova)  # the longest: qemu-img compresses the VMDK on one core
    if "gce" in formats:
        heavy.append(_gce)
    if options.raw_xz:
        heavy.append(_raw_xz)
    light = [_LIGHT[fmt] for fmt in formats if fmt in _LIGHT]
    with (
        ThreadPoolExecutor(options.workers, "convert") as heavy_pool,
        ThreadPoolExecutor(1, "copy") as light_pool,
    ):
        if "vhd" in formats or "ova" in formats:
            # First in its lane: the steps that wait on it are queued after it or in the
            # other lane, so waiting never deadlocks.
            job.digest = light_pool.submit(rawdisk.content_digest, job.raw)
        futures = [heavy_pool.submit(step, job) for step in heavy]
        futures += [light_pool.submit(step, job) for step in light]
        _, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()  # a failure: start nothing more (running tools finish first)
    failures = [e for f in futures if not f.cancelled() and (e := f.exception()) is not None]
    if failures:
        # A full disk makes other steps fail in odd ways (a short file to compare...):
        # report the cause.
        raise next((e for e in failures if _is_no_space(e)), failures[0])
    staged = [item for future in futures for item in future.result()]
    order = {fmt: i for i, fmt in enumerate(formats)}
    return sorted(staged, key=lambda item: (order[item[1].format], item[1].compression or ""))


def _publish(staged: list[Staged], out_dir: Path) -> list[ConvertedFile]:
    artifacts = []
    for path, artifact in staged:
        final = out_dir / artifact.path.name
        path.replace(final)
        artifacts.append(ConvertedFile(final, artifact.format, artifact.size, artifact.compression))
    fd = os.open(out_dir, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return artifacts


def _done(path: Path, fmt: Format, compression: str | None = None) -> list[Staged]:
    """Flush a finished, checked output to disk and describe it."""
    with path.open("rb") as f:
        os.fsync(f.fileno())
    log.info("%s: done", path.name)
    artifact = ConvertedFile(path, fmt, path.stat().st_size, "xz" if compression else None)
    return [(path, artifact)]


def _fix_up(fix: Callable[[Path, bytes], None], path: Path, job: Job) -> None:
    """Replace qemu-img's random ids with content-derived ones (reproducible outputs)."""
    try:
        fix(path, job.content_digest())
    except ValueError as exc:
        raise OperationError(f"{path.name}: unexpected qemu-img output: {exc}") from exc


def _qcow2(job: Job) -> list[Staged]:
    out = job.path(output_name(job.basename, "qcow2"))
    options = job.options
    runner.run(argv.qcow2(job.raw, out, options.qcow2_compat, options.qcow2_compress))
    check.image_ok(str(out), "qcow2", out.name)
    check.same_disk(job.raw, str(out), "qcow2", out.name)
    return _done(out, "qcow2")


def _vhd(job: Job) -> list[Staged]:
    out = job.path(output_name(job.basename, "vhd"))
    size = round_up(job.disk.size, MIB)  # Azure wants a whole number of MiB
    runner.run(argv.vhd_create(out, size))
    runner.run(argv.vhd_fill(job.raw, out))
    _fix_up(vhd.make_reproducible, out, job)
    footer = vhd.read_footer(out)
    if footer.disk_type != vhd.DISK_TYPE_FIXED or footer.current_size != size:
        raise OperationError(f"{out.name}: qemu-img did not make a fixed VHD of {size} bytes")
    if not footer.checksum_ok or out.stat().st_size != size + vhd.FOOTER:
        raise OperationError(f"{out.name}: the VHD footer or file size is wrong")
    check.same_disk(job.raw, str(out), "vpc", out.name)
    return _done(out, "vhd")


def _raw(job: Job) -> list[Staged]:
    out = job.path(output_name(job.basename, "raw"))
    fsutil.sparse_copy(job.raw, out)
    check.same_disk(job.raw, str(out), "raw", out.name)
    return _done(out, "raw")


def _raw_xz(job: Job) -> list[Staged]:
    out = job.path(job.basename + RAW_XZ_SUFFIX)
    with out.open("wb") as fh:
        runner.run(argv.xz(job.raw), stdout=fh)
    runner.run(argv.xz_test(out))
    listed = runner.run(argv.xz_list(out)).text
    totals = [line.split("\t") for line in listed.splitlines() if line.startswith("totals\t")]
    if not totals or int(totals[0][4]) != job.disk.size:
        raise OperationError(f"{out.name}: xz does not hold {job.disk.size} bytes")
    return _done(out, "raw", "xz")


def _ova(job: Job) -> list[Staged]:
    out = job.path(output_name(job.basename, "ova"))
    workdir = job.path("ova")
    workdir.mkdir()
    ovf_name, mf_name, vmdk_name = names = ova.member_names(job.basename)
    disk = workdir / vmdk_name
    runner.run(argv.vmdk(job.raw, disk))
    _fix_up(vmdk.make_reproducible, disk, job)
    options = job.options
    machine = ova.Machine(
        name=job.basename,
        product=options.product,
        version=options.version,
        cpus=options.cpus,
        memory_mib=options.memory_mib,
        disk_file=vmdk_name,
        disk_file_size=disk.stat().st_size,
        capacity=job.disk.size,
    )
    descriptor = ova.descriptor(machine)
    (workdir / ovf_name).write_bytes(descriptor)
    digests = {
        name: ova.file_digests(workdir / name, options.ova_sha1) for name in (ovf_name, vmdk_name)
    }
    (workdir / mf_name).write_bytes(ova.manifest(digests, options.ova_sha1))
    sizes = [(workdir / name).stat().st_size for name in names]
    runner.run(argv.ova_tar(workdir, names, out, ova.tar_format(sizes)))
    shutil.rmtree(workdir)
    inside = ova.check_ova(out, job.basename, job.disk.size, options.ova_sha1)
    image = argv.vmdk_in_tar_node(out, inside.offset, inside.size)
    label = f"{out.name} ({vmdk_name})"
    check.image_ok(argv.json_filename(image), None, label)
    check.same_disk_in_parts(job.raw, job.disk.size, image, options.workers, label)
    return _done(out, "ova")


def _gce(job: Job) -> list[Staged]:
    out = job.path(output_name(job.basename, "gce"))
    workdir = job.path("gce")
    workdir.mkdir()
    gce.stage_disk(job.raw, job.disk.size, workdir)
    gce.build(workdir, out, _pigz_threads(job.options), job.options.gzip_level)
    shutil.rmtree(workdir)
    scratch = job.path("gce-check")
    gce.check_archive(out, job.raw, scratch)
    shutil.rmtree(scratch)
    return _done(out, "gce")


_LIGHT: dict[Format, Callable[[Job], list[Staged]]] = {"qcow2": _qcow2, "vhd": _vhd, "raw": _raw}


def _pigz_threads(options: ConvertOptions) -> int:
    """Every core, even while the VMDK compressor holds one: it finishes first, and pigz
    cannot take a core back later. Measured faster than leaving it that core (one extra
    thread while both run; the total work is the same)."""
    return options.workers
