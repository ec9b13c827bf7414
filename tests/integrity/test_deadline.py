"""Deadlines of a verification and the HTTP header parsing that must not crash on them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from release.integrity.deadline import Budget, Deadline, DeadlinePassed, Limits
from release.integrity.httpsource import content_length
from release.integrity.sourceproblem import SourceProblem
from release.integrity.sources import open_source


def test_a_document_gets_the_earlier_of_its_own_and_the_runs_deadline() -> None:
    budget = Budget(Limits(document=100, run=1))
    assert budget.document("x") is budget.run
    roomy = Budget(Limits(document=1, run=100))
    own = roomy.document("manifest.json")
    assert own.at < roomy.run.at and "manifest.json (1 s)" in own.what


def test_a_passed_deadline_says_what_it_limited() -> None:
    deadline = Deadline.after(0.01, "the time limit for x (0.01 s)")
    time.sleep(0.02)
    assert deadline.passed()
    with pytest.raises(DeadlinePassed, match=r"the time limit for x \(0.01 s\) passed"):
        deadline.check()


@pytest.mark.parametrize("value", [0, -1.0])
def test_limits_must_be_positive(value: float) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        Limits(document=value)


@pytest.mark.parametrize("value", ["abc", "12abc", "-5", "", "1e3", "0x10", "1" * 20])
def test_a_malformed_content_length_is_a_source_problem(value: str) -> None:
    with pytest.raises(SourceProblem, match="malformed Content-Length"):
        content_length(value)


def test_a_plain_content_length_is_its_number() -> None:
    assert content_length("123") == 123
    assert content_length(None) is None


def test_a_local_artifact_read_past_its_deadline_is_a_source_problem(tmp_path: Path) -> None:
    (tmp_path / "big.raw").write_bytes(b"\0" * (4 << 20))
    slow = open_source(str(tmp_path), Budget(Limits(document=1e-9)))
    with pytest.raises(SourceProblem, match=r"the time limit for big.raw \(1e-09 s\) passed"):
        slow.digest("big.raw", 4 << 20)
    roomy = open_source(str(tmp_path), Budget())
    assert roomy.digest("big.raw", 4 << 20).size == 4 << 20
