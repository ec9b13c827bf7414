"""The trust file, `keys/trust.yaml`: which public keys may sign which channels, and when.

keys:
  release-2026:                 # a name channels can refer to
    file: release-2026.asc      # public key file in keys/
    fingerprint: 0123...ABCD    # 40 hex digits, pinned
    channels: ["el7-*"]         # glob patterns of channel names it may sign
    not_after: 2027-06-30       # optional: end of a rotation window
    revoked:                    # optional: compromised; nothing it signed is trusted
      date: 2026-12-02
      reason: laptop stolen

`TrustedKey.refusal` is THE trust rule: verify, the channel index checks, the signer and
`release keys check` all ask it, so a key cannot be out of its window for one and in for another.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from typing import Annotated

from pydantic import AfterValidator, Field

from release.model.base import Model, Name

_FPR = re.compile(r"[0-9A-F]{40}")


def normalize_fingerprint(value: str) -> str:
    fpr = value.replace(" ", "").upper()
    if not _FPR.fullmatch(fpr):
        raise ValueError(f"{value!r} is not a 40-hex-digit OpenPGP v4 fingerprint")
    return fpr


Fingerprint = Annotated[str, AfterValidator(normalize_fingerprint)]


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


class Revocation(Model):
    """A key found compromised: every signature by it is refused, whenever it was made (a
    thief can sign with any date), and it may sign nothing more."""

    date: dt.date = Field(description="when the key was revoked (found compromised)")
    reason: str = Field(min_length=1, description="why, for whoever meets a refused signature")


class TrustedKey(Model):
    file: Name
    fingerprint: Fingerprint
    channels: tuple[str, ...] = Field(default=("*",), min_length=1)
    not_after: dt.date | None = None
    revoked: Revocation | None = None

    def refusal(self, channel: str | None, today: dt.date | None = None) -> str | None:
        """Why this key may not sign `channel` (any channel when None) on `today` (UTC), or
        None when it may: revoked, past its `not_after`, or not listed for the channel."""
        if self.revoked is not None:
            return f"revoked on {self.revoked.date.isoformat()} ({self.revoked.reason})"
        if self.not_after is not None and (today or utc_today()) > self.not_after:
            return f"retired: its not_after ({self.not_after.isoformat()}) has passed"
        if channel is not None and not any(
            fnmatch.fnmatchcase(channel, pattern) for pattern in self.channels
        ):
            return f"not allowed for channel {channel!r} (its channels: {', '.join(self.channels)})"
        return None

    def may_sign(self, channel: str | None, today: dt.date | None = None) -> bool:
        return self.refusal(channel, today) is None


class TrustFile(Model):
    keys: dict[Name, TrustedKey] = Field(default_factory=dict)

    def allowed_fingerprints(self, channel: str | None, today: dt.date | None = None) -> set[str]:
        """Fingerprints that may sign `channel` on `today` (any channel when None)."""
        listed = {key.fingerprint for key in self.keys.values()}
        return {fpr for fpr in listed if self.refusal(fpr, channel, today) is None}

    def refusal(
        self, fingerprint: str, channel: str | None, today: dt.date | None = None
    ) -> str | None:
        """Why `fingerprint` may not sign `channel`, as a phrase naming the key; None if it may.
        A key listed under several names may sign where any entry allows it, but a revocation
        under any name refuses it everywhere: a thief must not get back in through a copy."""
        entries = [(name, key) for name, key in self.keys.items() if key.fingerprint == fingerprint]
        if not entries:
            return f"{fingerprint} is not in trust.yaml"
        for name, key in entries:
            if key.revoked is not None:
                return f"key {name!r} is {key.refusal(channel, today)}"
        reasons = [(name, key.refusal(channel, today)) for name, key in entries]
        if any(why is None for _, why in reasons):
            return None
        name, why = reasons[0]
        return f"key {name!r} is {why}"
