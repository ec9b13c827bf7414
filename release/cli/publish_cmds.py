"""`release push`: publish one release dir to one target named by URL."""

from __future__ import annotations

from pathlib import Path

import click

from release.cli.output import attempts_option, emit, json_option
from release.errors import InvalidInput, OperationError, VerificationError
from release.model.base import parse_size
from release.publish import url as target_url
from release.publish.api import publish
from release.publish.engine import PublishSummary
from release.publish.journal import DEFAULT_PATH
from release.publish.options import Options
from release.publish.retry import RetrySettings
from release.publish.s3journal import open_journal


def _size(_ctx: click.Context, _param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n >= 1 << 20 else f"{n} B"


def render(summary: PublishSummary) -> str:
    """The end-of-run summary a human reads."""
    head = "would publish" if summary.dry_run else "publish"
    lines = [f"{head} {summary.release} to {summary.target}"]
    for o in summary.outcomes:
        where = f" -> {summary.target}/{o.name}" if summary.dry_run else ""
        detail = f" - {o.detail}" if o.detail else ""
        lines.append(f"  {o.status:<12} {o.name}{where} ({_mib(o.size)}){detail}")
    if not summary.dry_run:
        lines.append(
            f"{len(summary.published)} published, {len(summary.skipped)} already there,"
            f" {len(summary.retries)} retried, {len(summary.failed)} failed"
        )
    for r in summary.retries:
        lines.append(f"  retried {r.what}: {r.reason} (waited {r.wait:.1f} s)")
    if summary.error:
        lines.append(f"stopped: {summary.error}")
    return "\n".join(lines)


@click.command("push")
@click.argument("release_dir", type=click.Path(path_type=Path))
@click.argument("url", metavar="TARGET_URL")
@click.option("--endpoint-url", help="S3 or GCS endpoint (MinIO, Ceph, a local emulator).")
@click.option(
    "--journal",
    "journal_path",
    default=str(DEFAULT_PATH),
    show_default=True,
    help="The run's journal (a rerun resumes from it): a SQLite file, or s3://bucket/prefix"
    " to share one run between machines.",
)
@click.option("--dry-run", is_flag=True, help="List what would be sent where; send nothing.")
@click.option("--part-size", callback=_size, help="S3 multipart part size, e.g. 64MiB.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Parts in flight at once per file.",
)
@attempts_option
@click.option("--bwlimit", type=click.IntRange(1), help="rsync: bandwidth limit in KiB/s.")
@json_option
def push(
    release_dir: Path,
    url: str,
    endpoint_url: str | None,
    journal_path: str,
    dry_run: bool,
    part_size: int | None,
    concurrency: int,
    attempts: int,
    bwlimit: int | None,
    as_json: bool,
) -> None:
    """Publish RELEASE_DIR (<image>/<version>/) to TARGET_URL, resuming any earlier run.

    TARGET_URL is file:///path, s3://bucket/prefix, gs://bucket/prefix,
    rsync://host/module/path or [user@]host:path (rsync over ssh). Credentials come from
    the standard chains (AWS environment/profile/role, Google ADC).
    """
    if part_size is not None and part_size < 5 << 20:
        raise InvalidInput("--part-size must be at least 5MiB (S3's minimum part size)")
    target = target_url.parse(url, endpoint_url)
    options = Options(
        endpoint_url=endpoint_url,
        part_size=part_size,
        concurrency=concurrency,
        bwlimit_kib=bwlimit,
    )
    with open_journal(journal_path, endpoint_url) as journal:
        summary = publish(
            release_dir,
            target,
            journal,
            options=options,
            retry=RetrySettings(attempts=attempts),
            dry_run=dry_run,
            show_progress=not as_json,
        )
    emit(summary.to_dict(), as_json, lambda: render(summary))
    if summary.verification_failed:
        raise VerificationError(f"publishing stopped: {summary.error}; rerun to resume")
    if not summary.ok:
        raise OperationError(f"publishing stopped: {summary.error}; rerun to resume")


COMMANDS: list[click.Command] = [push]
