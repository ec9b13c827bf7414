"""`publish(release_dir, target, journal)`: the library entry point the CLI and channels call."""

from __future__ import annotations

from pathlib import Path

from release.model.target import Target
from release.publish import layout
from release.publish.engine import PublishSummary, publish_to
from release.publish.journal import JournalStore
from release.publish.options import Options
from release.publish.retry import Retrier, RetrySettings
from release.publish.targets import open_mirror


def publish(
    release_dir: Path,
    target: Target,
    journal: JournalStore,
    *,
    options: Options | None = None,
    retry: RetrySettings | None = None,
    dry_run: bool = False,
    show_progress: bool = True,
) -> PublishSummary:
    """Publish one release dir to one target; rerunning it finishes an interrupted run."""
    release = layout.scan(release_dir)
    mirror = open_mirror(target, release.image, release.version, options or Options())
    return publish_to(
        release,
        mirror,
        journal,
        retrier=Retrier(retry or RetrySettings()),
        dry_run=dry_run,
        show_progress=show_progress,
    )
