"""The trust file, `keys/trust.yaml`: which public keys may sign which channels.

keys:
  release-2026:                 # a name channels can refer to
    file: release-2026.asc      # public key file in keys/
    fingerprint: 0123...ABCD    # 40 hex digits, pinned
    channels: ["el7-*"]         # glob patterns of channel names it may sign
    not_after: 2027-06-30       # optional: end of a rotation window
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


class TrustedKey(Model):
    file: Name
    fingerprint: Fingerprint
    channels: tuple[str, ...] = Field(default=("*",), min_length=1)
    not_after: dt.date | None = None

    def may_sign(self, channel: str | None, today: dt.date | None = None) -> bool:
        if self.not_after and (today or dt.datetime.now(dt.UTC).date()) > self.not_after:
            return False
        if channel is None:
            return True
        return any(fnmatch.fnmatchcase(channel, pattern) for pattern in self.channels)


class TrustFile(Model):
    keys: dict[Name, TrustedKey] = Field(default_factory=dict)

    def allowed_fingerprints(self, channel: str | None) -> set[str]:
        """Fingerprints that may sign `channel` today (any channel when None)."""
        return {key.fingerprint for key in self.keys.values() if key.may_sign(channel)}
