"""Opening a mirror for a model target; each adapter (and its SDK) is imported only when used."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from release.errors import InvalidInput
from release.model.target import FilesystemTarget, GcsTarget, RsyncTarget, S3Target, Target
from release.publish.mirror import Mirror


@dataclass(frozen=True)
class Options:
    """Per-run knobs that are not part of a target's definition."""

    endpoint_url: str | None = None  # overrides the target's, e.g. a local MinIO or moto
    part_size: int | None = None  # S3 multipart part size; None = chosen from the file size
    concurrency: int = 4
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    ssh_options: tuple[str, ...] = ()  # extra ssh arguments for rsync over ssh (-i, -o ...)
    bwlimit_kib: int | None = None  # rsync: be gentle with a mirror's bandwidth (KiB/s)


def open_mirror(target: Target, image: str, version: str, options: Options) -> Mirror:
    if isinstance(target, FilesystemTarget):
        from release.publish.fs import FilesystemMirror

        return FilesystemMirror(Path(target.path), image, version)
    if isinstance(target, S3Target):
        from release.publish.s3 import S3Mirror

        return S3Mirror(target, image, version, options)
    if isinstance(target, RsyncTarget):
        from release.publish.rsync import RsyncMirror

        return RsyncMirror(target, image, version, options.ssh_options, options.bwlimit_kib)
    if isinstance(target, GcsTarget):
        from release.publish.gcs import GcsMirror

        return GcsMirror(target, image, version, options)
    raise InvalidInput(f"publishing to {target.type} targets is not supported by this command yet")
