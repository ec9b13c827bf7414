"""Time limits of a verification: one for the whole run, one for each document read.

A socket timeout bounds one wait, not a download: a mirror sending one byte every few seconds
never trips it. So every read carries a `Deadline`, the earlier of the document's and the
run's, and the HTTP source shuts its socket when it passes (see sources.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

DOCUMENT_SECONDS = 900.0  # one file, an artifact of several GiB included, over a slow link
RUN_SECONDS = 3600.0  # the whole `release verify`


class DeadlinePassed(Exception):
    """A read or the run went past its deadline; the message says which."""


@dataclass(frozen=True)
class Deadline:
    """A point in time (monotonic clock) and what it limits."""

    at: float
    what: str

    @classmethod
    def after(cls, seconds: float, what: str) -> Deadline:
        return cls(time.monotonic() + seconds, what)

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def passed(self) -> bool:
        return self.remaining() <= 0

    def check(self) -> None:
        if self.passed():
            raise DeadlinePassed(f"{self.what} passed")


@dataclass(frozen=True)
class Limits:
    """`--document-timeout` and `--timeout` of `release verify`, in seconds."""

    document: float = DOCUMENT_SECONDS
    run: float = RUN_SECONDS

    def __post_init__(self) -> None:
        for name, value in (("document", self.document), ("run", self.run)):
            if not value > 0:
                raise ValueError(f"the {name} time limit must be positive, not {value}")


@dataclass
class Budget:
    """The run's deadline, started once, and a fresh document deadline for each read."""

    limits: Limits = field(default_factory=Limits)
    run: Deadline = field(init=False)

    def __post_init__(self) -> None:
        self.run = Deadline.after(self.limits.run, f"the run's time limit ({self.limits.run:g} s)")

    def document(self, name: str) -> Deadline:
        """The earlier of the run's deadline and `limits.document` from now, for `name`."""
        own = Deadline.after(
            self.limits.document, f"the time limit for {name} ({self.limits.document:g} s)"
        )
        return own if own.at <= self.run.at else self.run
