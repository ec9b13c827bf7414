"""THE retry policy of publishing: one tenacity policy, for idempotent calls only.

Adapters turn their SDK's errors into `Transient` (worth another try) or a permanent
`ReleaseError` (auth, 4xx, 412, verification: never retried). SDK-level retries are switched
off in every adapter (botocore `total_max_attempts=1`, `retry=None` for Google) so the budget
here is the whole budget and layers do not multiply.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from release.errors import OperationError

log = logging.getLogger("release.publish")

T = TypeVar("T")


class Transient(OperationError):
    """A failure worth retrying: a reset, a timeout, 408, 429, throttling, 5xx, a 409 conflict."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class RetrySettings:
    """Per-target retry budget: attempts and total seconds per call, exponential backoff."""

    attempts: int = 8
    total_seconds: float = 600.0
    initial_wait: float = 0.5
    max_wait: float = 30.0
    jitter: float = 1.0


def transient_reason(exc: BaseException) -> str | None:
    """Why `exc` is worth retrying, or None if it is not."""
    if isinstance(exc, Transient):
        return exc.reason
    # Socket-level trouble that escaped an adapter's translation (resets, timeouts).
    if isinstance(exc, ConnectionError | TimeoutError):
        return f"{type(exc).__name__}: {exc}"
    return None


@dataclass(frozen=True)
class RetryEvent:
    what: str
    reason: str
    attempt: int
    wait: float


@dataclass
class Retrier:
    """Runs calls under the policy and remembers every retry (for the run summary)."""

    settings: RetrySettings = field(default_factory=RetrySettings)
    events: list[RetryEvent] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """Call `fn`, retrying transient failures; the last failure is raised as is."""
        s = self.settings
        retrying = Retrying(
            stop=stop_after_attempt(s.attempts) | stop_after_delay(s.total_seconds),
            wait=wait_exponential_jitter(
                multiplier=s.initial_wait, max=s.max_wait, jitter=s.jitter
            ),
            retry=retry_if_exception(lambda e: transient_reason(e) is not None),
            before_sleep=lambda state: self._note(what, state),
            reraise=True,
        )
        return retrying(fn)

    def _note(self, what: str, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        reason = transient_reason(exc) if exc else None
        wait = state.next_action.sleep if state.next_action else 0.0
        event = RetryEvent(what, reason or "unknown", state.attempt_number, wait)
        with self._lock:
            self.events.append(event)
        log.warning(
            "retrying %s in %.1f s (attempt %d of %d failed: %s)",
            what,
            wait,
            state.attempt_number,
            self.settings.attempts,
            event.reason,
        )


def raise_as(exc: Exception, ours: Exception) -> NoReturn:
    """Raise `ours`, an adapter's translation of the SDK error `exc`, from it; or `exc` itself
    when the adapter left it untranslated."""
    if ours is exc:
        raise exc
    raise ours from exc
