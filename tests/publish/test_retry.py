from __future__ import annotations

import logging

import pytest

from release.errors import InvalidInput
from release.publish.retry import Retrier, RetrySettings, Transient

FAST = RetrySettings(attempts=4, total_seconds=5, initial_wait=0.01, max_wait=0.02, jitter=0.01)


def test_transient_failures_are_retried_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise Transient("HTTP 503 Slow Down")
        return "ok"

    retrier = Retrier(FAST)
    with caplog.at_level(logging.WARNING, logger="release.publish"):
        assert retrier.call("upload part 1", flaky) == "ok"
    assert len(calls) == 3
    assert [e.reason for e in retrier.events] == ["HTTP 503 Slow Down"] * 2
    assert "retrying upload part 1 in" in caplog.text
    assert "HTTP 503 Slow Down" in caplog.text


def test_attempts_are_bounded_and_the_last_error_is_raised() -> None:
    calls = []

    def down() -> None:
        calls.append(1)
        raise ConnectionResetError("reset by peer")

    with pytest.raises(ConnectionResetError):
        Retrier(FAST).call("head", down)
    assert len(calls) == FAST.attempts


def test_total_time_is_bounded() -> None:
    calls = []

    def down() -> None:
        calls.append(1)
        raise Transient("timeout")

    settings = RetrySettings(attempts=1000, total_seconds=0.2, initial_wait=0.05, max_wait=0.05)
    with pytest.raises(Transient):
        Retrier(settings).call("head", down)
    assert 2 <= len(calls) < 20


def test_permanent_errors_are_not_retried() -> None:
    calls = []

    def denied() -> None:
        calls.append(1)
        raise InvalidInput("access denied")

    retrier = Retrier(FAST)
    with pytest.raises(InvalidInput):
        retrier.call("head", denied)
    assert len(calls) == 1
    assert retrier.events == []
