"""Progress for long steps: rich bars on a terminal, plain log lines without one (CI)."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

log = logging.getLogger("release.progress")


class Task:
    """A step with an optional size; call `advance` as work is done."""

    def __init__(self, description: str, total: int | None) -> None:
        self.description = description
        self.total = total
        self.done = 0

    def advance(self, amount: int) -> None:
        self.done += amount


class _BarTask(Task):
    def __init__(self, bar: Progress, description: str, total: int | None) -> None:
        super().__init__(description, total)
        self._bar = bar
        self._id = bar.add_task(description, total=total)

    def advance(self, amount: int) -> None:
        super().advance(amount)
        self._bar.advance(self._id, amount)


class _LogTask(Task):
    """Logs at most every 10 s, so CI logs show life without flooding."""

    def __init__(self, description: str, total: int | None) -> None:
        super().__init__(description, total)
        self._last = time.monotonic()

    def advance(self, amount: int) -> None:
        super().advance(amount)
        now = time.monotonic()
        if now - self._last >= 10:
            self._last = now
            if self.total:
                log.info("%s: %d%%", self.description, 100 * self.done // self.total)
            else:
                log.info("%s: %d done", self.description, self.done)


def interactive() -> bool:
    return sys.stderr.isatty()


@contextlib.contextmanager
def task(description: str, total: int | None = None, *, nbytes: bool = False) -> Iterator[Task]:
    """A progress display for one step; a bar on a TTY, start/end log lines otherwise."""
    if interactive():
        columns = [TextColumn("{task.description}"), BarColumn()]
        if nbytes:
            columns += [DownloadColumn(), TransferSpeedColumn()]
        columns.append(TimeRemainingColumn())
        with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
            yield _BarTask(bar, description, total)
        log.info("%s: done", description)
        return
    log.info("%s: started", description)
    started = time.monotonic()
    yield _LogTask(description, total)
    log.info("%s: done in %.1f s", description, time.monotonic() - started)
