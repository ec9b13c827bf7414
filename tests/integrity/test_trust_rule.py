"""The one trust rule (`TrustedKey.refusal`): a key past its `not_after`, or revoked in
trust.yaml, vouches for nothing; here for `release verify` of a release directory and for
`release keys check` (the index checks and the signer: tests/channels/test_trust_window)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from release.integrity.keys import check_keys
from release.integrity.keysource import load_key_source
from release.integrity.verify import verify_release
from release.model.trust import TrustedKey
from tests.integrity.gpgkit import Keys, write_keys_dir

TODAY = dt.date(2026, 12, 2)
FPR = "AB" * 20


def _key(**fields: object) -> TrustedKey:
    return TrustedKey.model_validate({"file": "k.asc", "fingerprint": FPR, **fields})


def test_the_rule_on_its_own() -> None:
    assert _key().refusal("el7-stable", TODAY) is None
    assert _key(not_after="2026-12-02").refusal(None, TODAY) is None  # its last day
    assert _key(not_after="2026-12-01").refusal(None, TODAY) == (
        "retired: its not_after (2026-12-01) has passed"
    )
    revoked = _key(not_after="2027-06-30", revoked={"date": "2026-11-30", "reason": "leaked"})
    assert revoked.refusal(None, TODAY) == "revoked on 2026-11-30 (leaked)"  # inside its window
    assert "not allowed for channel 'el6-x'" in (
        _key(channels=["el7-*"]).refusal("el6-x", TODAY) or ""
    )


def keys_with(keys: Keys, directory: Path, extra: str) -> Path:
    """keys/ trusting only 'good', with `extra` lines added to its entry."""
    write_keys_dir(keys, directory, {"good": ["*"]})
    with (directory / "trust.yaml").open("a") as out:
        out.write(extra)
    return directory


WINDOW = {
    "closed": "    not_after: 2020-01-01\n",
    "revoked": "    not_after: 2099-01-01\n"  # inside its window, yet refused
    "    revoked: {date: 2026-12-01, reason: laptop stolen}\n",
}


@pytest.mark.parametrize("state", sorted(WINDOW))
def test_verify_refuses_a_release_signed_by_a_key_out_of_its_window(
    keys: Keys, release_dir: Path, tmp_path: Path, state: str
) -> None:
    source = load_key_source(keys_with(keys, tmp_path / "keys", WINDOW[state]))
    result = verify_release(str(release_dir), source)
    assert not result.ok
    reason = "retired: its not_after (2020-01-01)" if state == "closed" else "revoked on 2026-12-01"
    assert any(reason in failure for failure in result.failures()), result.failures()


def test_verify_accepts_inside_the_window(keys: Keys, release_dir: Path, tmp_path: Path) -> None:
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    source = load_key_source(keys_with(keys, tmp_path / "keys", f"    not_after: {tomorrow}\n"))
    assert verify_release(str(release_dir), source).ok


def test_keys_check_reports_a_closed_window_and_notes_a_revocation(
    keys: Keys, tmp_path: Path
) -> None:
    closed = load_key_source(keys_with(keys, tmp_path / "a", WINDOW["closed"]))
    (problem,), _ = check_keys(closed)
    assert (problem.field, problem.message) == (
        "keys.good", "its not_after date has passed: it can no longer sign; remove it"
    )  # fmt: skip
    revoked = load_key_source(keys_with(keys, tmp_path / "b", WINDOW["revoked"]))
    problems, warnings = check_keys(revoked)
    assert problems == []  # kept on purpose, so clients are told why its signatures fail
    assert warnings == [
        "good: revoked in trust.yaml on 2026-12-01 (laptop stolen); every signature by it is"
        " refused"
    ]
