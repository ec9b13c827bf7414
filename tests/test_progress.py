"""Progress falls back to plain log lines when stderr is not a terminal (CI)."""

from __future__ import annotations

import logging

import pytest

from release import progress


def test_without_a_tty_progress_is_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    assert not progress.interactive()  # pytest captures stderr: no TTY
    caplog.set_level(logging.INFO, logger="release.progress")
    with progress.task("convert qcow2", total=100) as step:
        step.advance(40)
        step.advance(60)
    assert step.done == 100
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "convert qcow2: started"
    assert messages[-1].startswith("convert qcow2: done in ")
