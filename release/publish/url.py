"""TARGET_URL of `release push` to a model target (pure).

`file:///path`, `s3://bucket/prefix`, `gs://bucket/prefix`, `rsync://host/module/path`
(rsync daemon) and `[user@]host:path` (rsync over ssh).
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

from release.errors import InvalidInput
from release.model.target import FilesystemTarget, GcsTarget, RsyncTarget, S3Target, Target

FORMS = (
    "file:///path, s3://bucket/prefix, gs://bucket/prefix, rsync://host/module/path"
    " or [user@]host:path"
)

# S3 and GCS share the DNS-style rule (GCS also allows '_'); checked here so a typo fails
# before any network call.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]")
_SSH = re.compile(
    r"(?:(?P<user>[A-Za-z0-9._-]+)@)?(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):(?P<path>.*)"
)


def _prefix(url: str, path: str) -> str:
    prefix = path.strip("/")
    parts = prefix.split("/") if prefix else []
    if any(p in ("", ".", "..") for p in parts):
        raise InvalidInput(f"{url}: the prefix {path!r} has an empty, '.' or '..' component")
    return prefix


def _bucket(url: str, bucket: str) -> str:
    if not _BUCKET.fullmatch(bucket):
        raise InvalidInput(
            f"{url}: {bucket!r} is not a valid bucket name"
            " (3-63 lowercase letters, digits, '.', '-')"
        )
    return bucket


def _split(url: str) -> SplitResult:
    try:
        return urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed '[' of an IPv6 host
        raise InvalidInput(f"{url}: not a target URL ({exc}); write {FORMS}") from None


def parse(url: str, endpoint_url: str | None = None) -> Target:
    """The target `url` names; `endpoint_url` points S3 or GCS at another server."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if endpoint_url is not None and scheme not in ("s3", "gs"):
        raise InvalidInput(f"--endpoint-url only applies to s3:// and gs:// targets, not {url}")
    if scheme == "file":
        parts = _split(url)
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise InvalidInput(f"{url}: write a local directory as file:///absolute/path")
        return FilesystemTarget(type="filesystem", path=parts.path)
    if scheme in ("s3", "gs"):
        parts = _split(url)
        bucket = _bucket(url, parts.netloc)
        prefix = _prefix(url, parts.path)
        if scheme == "s3":
            return S3Target(type="s3", bucket=bucket, prefix=prefix, endpoint_url=endpoint_url)
        return GcsTarget(type="gcs", bucket=bucket, prefix=prefix, endpoint_url=endpoint_url)
    if scheme == "rsync":
        parts = _split(url)
        if not parts.hostname or len(parts.path.strip("/")) == 0:
            raise InvalidInput(f"{url}: write an rsync daemon target as rsync://host/module/path")
        _prefix(url, parts.path)
        return RsyncTarget(type="rsync", url=url.rstrip("/"))
    if not scheme:
        match = _SSH.fullmatch(url)
        if match and match["path"]:
            return RsyncTarget(type="rsync", url=url)
    raise InvalidInput(f"{url}: not a target URL; write {FORMS}")
