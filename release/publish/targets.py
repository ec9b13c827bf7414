"""What a model target opens as: a mirror to publish a release to, a store of channel indexes.

The S3 and GCS adapters are imported when a target needs them: their SDKs (boto3,
google-cloud-storage) would add most of a second to every command, `release verify` included.
"""

from __future__ import annotations

from pathlib import Path

from release.errors import InvalidInput
from release.model.target import FilesystemTarget, GcsTarget, RsyncTarget, S3Target, Target
from release.publish.fs import FilesystemMirror
from release.publish.indexstore import FilesystemIndexStore, IndexStore
from release.publish.mirror import Mirror
from release.publish.options import Options
from release.publish.rsync import RsyncMirror
from release.publish.rsyncindex import RsyncIndexStore


def open_mirror(target: Target, image: str, version: str, options: Options) -> Mirror:
    if isinstance(target, FilesystemTarget):
        return FilesystemMirror(Path(target.path), image, version)
    if isinstance(target, S3Target):
        from release.publish.s3 import S3Mirror

        return S3Mirror(target, image, version, options)
    if isinstance(target, RsyncTarget):
        return RsyncMirror(target, image, version, options.ssh_options, options.bwlimit_kib)
    if isinstance(target, GcsTarget):
        from release.publish.gcs import GcsMirror

        return GcsMirror(target, image, version, options)
    raise InvalidInput(f"publishing to {target.type} targets is not supported by this command yet")


def open_index_store(target: Target, options: Options | None = None) -> IndexStore:
    """The index store of a mirror target; registries (AMI, GCE image) hold no index."""
    options = options or Options()
    if isinstance(target, FilesystemTarget):
        return FilesystemIndexStore(Path(target.path))
    if isinstance(target, S3Target):
        from release.publish.s3index import S3IndexStore

        return S3IndexStore(target, options)
    if isinstance(target, RsyncTarget):
        return RsyncIndexStore(target, options)
    if isinstance(target, GcsTarget):
        from release.publish.gcsindex import GcsIndexStore

        return GcsIndexStore(target, options)
    raise InvalidInput(f"{target.type} targets hold no channel index")


def holds_index(target: Target) -> bool:
    return isinstance(target, FilesystemTarget | S3Target | GcsTarget | RsyncTarget)
