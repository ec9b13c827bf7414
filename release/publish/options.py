"""Per-run knobs of the publish adapters (endpoint, part size, timeouts, ssh options): what a
run sets that is not part of a target's definition."""

from __future__ import annotations

from dataclasses import dataclass


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
