"""The trust file: pinned fingerprints, the channel globs a key may sign, its window and its
revocation. tests/integrity/test_trust_rule.py has the rule's window and revocation order; here
the fingerprints, the globs and the trust file's answers across several keys."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from release.model.trust import TrustedKey, TrustFile, normalize_fingerprint
from tests.model.kit import only, refusal, shipped

TODAY = dt.date(2026, 12, 2)
CENTOS7 = "6341AB2753D78A78A7C27BB124C6A8A7F4A80EB5"
OLD = "A" * 40
NEW = "B" * 40
LOST = "C" * 40


@pytest.mark.parametrize(
    "written",
    [
        "6341 AB27 53D7 8A78 A7C2  7BB1 24C6 A8A7 F4A8 0EB5",  # as gpg prints it
        "6341ab2753d78a78a7c27bb124c6a8a7f4a80eb5",
        CENTOS7,
    ],
)
def test_fingerprints_are_normalized(written: str) -> None:
    assert normalize_fingerprint(written) == CENTOS7


@pytest.mark.parametrize(
    "written",
    [
        CENTOS7[:-1],  # 39 digits
        CENTOS7 + "0",
        "0x" + CENTOS7[2:],
        CENTOS7[:-1] + "G",
        "6341\tAB2753D78A78A7C27BB124C6A8A7F4A80EB5",  # only spaces are dropped
        "24C6A8A7F4A80EB5",  # a long key id is not a fingerprint
        "",
    ],
)
def test_anything_but_40_hex_digits_is_refused(written: str) -> None:
    with pytest.raises(ValueError) as refused:
        normalize_fingerprint(written)
    assert str(refused.value) == f"{written!r} is not a 40-hex-digit OpenPGP v4 fingerprint"


def _key(fingerprint: str = OLD, **fields: object) -> TrustedKey:
    return TrustedKey.model_validate({"file": "k.asc", "fingerprint": fingerprint, **fields})


def test_a_key_defaults_to_every_channel_forever() -> None:
    key = _key(fingerprint=CENTOS7.lower())
    assert key.fingerprint == CENTOS7
    assert key.channels == ("*",)
    assert (key.not_after, key.revoked) == (None, None)
    assert key.refusal("anything", TODAY) is None and key.may_sign(None, TODAY)


def test_channel_globs() -> None:
    key = _key(channels=["el7-*", "el6-stable"])
    assert key.refusal("el7-stable", TODAY) is None
    assert key.refusal("el7-", TODAY) is None
    assert key.refusal("el6-stable", TODAY) is None
    assert key.refusal(None, TODAY) is None  # "may it sign at all"
    assert key.refusal("el6-testing", TODAY) == (
        "not allowed for channel 'el6-testing' (its channels: el7-*, el6-stable)"
    )
    assert key.refusal("EL7-stable", TODAY) is not None  # case counts, whatever the OS
    assert key.refusal("xel7-stable", TODAY) is not None  # a glob matches the whole name
    assert not key.may_sign("el8-stable", TODAY)
    question = _key(channels=["el?-stable", "[ab]*"])
    assert question.may_sign("el9-stable", TODAY) and question.may_sign("beta", TODAY)
    assert not question.may_sign("el10-stable", TODAY) and not question.may_sign("c", TODAY)


def test_a_closed_window_is_named_before_the_channels() -> None:
    key = _key(channels=["el7-*"], not_after="2026-06-30")
    assert key.refusal("el6-stable", TODAY) == "retired: its not_after (2026-06-30) has passed"


def test_without_a_date_the_rule_asks_the_clock() -> None:
    assert _key(not_after="2000-01-01").refusal(None) == (
        "retired: its not_after (2000-01-01) has passed"
    )
    assert _key(not_after="2999-12-31").refusal(None) is None


def test_a_key_entry_is_checked_field_by_field() -> None:
    assert only(TrustedKey, {"file": "k.asc", "fingerprint": OLD, "channels": []})[0] == (
        "channels",
    )
    assert only(TrustedKey, {"file": "../k.asc", "fingerprint": OLD})[0] == ("file",)
    loc, message = only(TrustedKey, {"file": "k.asc", "fingerprint": "F00"})
    assert loc == ("fingerprint",) and "'F00' is not a 40-hex-digit" in message
    revoked = {"file": "k.asc", "fingerprint": OLD, "revoked": {"date": "2026-12-01"}}
    assert only(TrustedKey, revoked)[0] == ("revoked", "reason")
    empty = {**revoked, "revoked": {"date": "2026-12-01", "reason": ""}}
    assert only(TrustedKey, empty)[0] == ("revoked", "reason")
    late = {"file": "k.asc", "fingerprint": OLD, "not_after": "someday"}
    assert only(TrustedKey, late)[0] == ("not_after",)
    extra = {"file": "k.asc", "fingerprint": OLD, "expires": "2027-01-01"}
    assert [(e["loc"], e["type"]) for e in refusal(TrustedKey, extra)] == [
        (("expires",), "extra_forbidden")
    ]


TRUST = {
    "keys": {
        "old": {"file": "old.asc", "fingerprint": OLD, "not_after": "2026-12-31"},
        "new": {"file": "new.asc", "fingerprint": NEW, "channels": ["el7-*"]},
        "lost": {
            "file": "lost.asc",
            "fingerprint": LOST,
            "revoked": {"date": "2026-11-30", "reason": "laptop stolen"},
        },
    }
}


def test_the_fingerprints_allowed_for_a_channel() -> None:
    trust = TrustFile.model_validate(TRUST)
    assert trust.allowed_fingerprints("el7-stable", TODAY) == {OLD, NEW}
    assert trust.allowed_fingerprints("el6-stable", TODAY) == {OLD}
    assert trust.allowed_fingerprints(None, TODAY) == {OLD, NEW}
    assert trust.allowed_fingerprints("el6-stable", dt.date(2027, 1, 1)) == set()
    assert TrustFile().allowed_fingerprints(None, TODAY) == set()


def test_the_trust_file_names_the_key_it_refuses() -> None:
    trust = TrustFile.model_validate(TRUST)
    assert trust.refusal(NEW, "el7-stable", TODAY) is None
    assert trust.refusal(NEW, "el6-stable", TODAY) == (
        "key 'new' is not allowed for channel 'el6-stable' (its channels: el7-*)"
    )
    assert trust.refusal(OLD, None, dt.date(2027, 1, 1)) == (
        "key 'old' is retired: its not_after (2026-12-31) has passed"
    )
    assert trust.refusal(LOST, "el7-stable", TODAY) == (
        "key 'lost' is revoked on 2026-11-30 (laptop stolen)"
    )
    assert trust.refusal("D" * 40, None, TODAY) == f"{'D' * 40} is not in trust.yaml"


def test_key_names_are_checked() -> None:
    bad = {"keys": {"release 2026": {"file": "k.asc", "fingerprint": OLD}}}
    loc, message = only(TrustFile, bad)
    assert loc == ("keys", "release 2026", "[key]") and "contains whitespace" in message
    nested = {"keys": {"k": {"file": "k.asc", "fingerprint": OLD, "channel": ["*"]}}}
    assert only(TrustFile, nested)[0] == ("keys", "k", "channel")


def test_the_trust_file_is_frozen() -> None:
    trust = TrustFile.model_validate(TRUST)
    with pytest.raises(ValidationError, match="frozen"):
        trust.keys = {}  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        trust.keys["new"].channels = ("*",)  # type: ignore[misc]


def test_the_shipped_trust_file_validates_and_trusts_nobody_yet() -> None:
    trust = TrustFile.model_validate(shipped("keys/trust.yaml"))
    assert trust.keys == {}


def test_a_revoked_fingerprint_stays_refused_under_another_name() -> None:
    lost = TRUST["keys"]["lost"]
    twice = TrustFile.model_validate(
        {"keys": {"lost": lost, "lost-copy": {"file": "lost.asc", "fingerprint": LOST}}}
    )
    assert twice.refusal(LOST, "el7-stable", TODAY) is not None  # the first entry answers
    assert LOST not in twice.allowed_fingerprints("el7-stable", TODAY)


def test_a_revocation_refuses_the_key_whichever_entry_comes_first() -> None:
    copy_first = TrustFile.model_validate(
        {"keys": {"copy": {"file": "lost.asc", "fingerprint": LOST}, "lost": TRUST["keys"]["lost"]}}
    )
    assert copy_first.refusal(LOST, "el7-stable", TODAY) == copy_first.refusal(LOST, None, TODAY)
    assert "revoked" in (copy_first.refusal(LOST, "el7-stable", TODAY) or "")
    assert LOST not in copy_first.allowed_fingerprints(None, TODAY)
