"""`release keys list|check|export`: what the keys directory holds and whether it is sound."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from release import runner
from release.errors import InvalidInput, Problem
from release.integrity.gpghome import temporary_home
from release.integrity.keyinfo import KeyInfo
from release.integrity.keyring import export_argv, import_argv
from release.integrity.keysource import TRUST_FILE, KeySource
from release.integrity.signing import EXPIRY_WARNING
from release.model.trust import TrustedKey


@dataclass(frozen=True)
class KeyStatus:
    name: str
    trusted: TrustedKey
    key: KeyInfo | None

    def state(self, now: dt.datetime) -> str:
        """ok, revoked, expired, retired (past not_after, by the shared trust rule), expiring,
        not-rsa or missing."""
        if self.key is None:
            return "missing"
        if self.key.revoked or self.trusted.revoked is not None:
            return "revoked"
        if self.key.expired(now):
            return "expired"
        if self.trusted.refusal(None, now.date()) is not None:
            return "retired"
        if not self.key.is_rsa:
            return "not-rsa"
        if self.key.expires and self.key.expires - now <= EXPIRY_WARNING:
            return "expiring"
        return "ok"

    def to_dict(self, now: dt.datetime) -> dict[str, Any]:
        trusted = self.trusted
        return {
            "name": self.name,
            "fingerprint": trusted.fingerprint,
            "file": trusted.file,
            "channels": list(trusted.channels),
            "not_after": trusted.not_after.isoformat() if trusted.not_after else None,
            "revoked": trusted.revoked.model_dump(mode="json") if trusted.revoked else None,
            "expires": self.key.expires.isoformat() if self.key and self.key.expires else None,
            "user": self.key.user if self.key else None,
            "state": self.state(now),
        }


def key_statuses(source: KeySource) -> list[KeyStatus]:
    return [
        KeyStatus(name, trusted, source.key(trusted.fingerprint))
        for name, trusted in sorted(source.trust.keys.items())
    ]


_STATE_PROBLEMS = {
    "missing": "the key is not in its file",
    "revoked": "the key is revoked: remove it from trust.yaml",
    "expired": "the key has expired: extend it (gpg --quick-set-expire) or rotate",
    "retired": "its not_after date has passed: it can no longer sign; remove it",
    "not-rsa": "the key is not RSA: EL6/EL7 clients cannot verify it",
}


def check_keys(
    source: KeySource, now: dt.datetime | None = None
) -> tuple[list[Problem], list[str]]:
    """Problems (exit 2) and warnings about the keys directory."""
    now = now or dt.datetime.now(dt.UTC)
    trust_file = str(Path(source.origin) / TRUST_FILE)
    problems: list[Problem] = []
    warnings: list[str] = []
    for status in key_statuses(source):
        state = status.state(now)
        revocation = status.trusted.revoked
        if revocation is not None:  # kept on purpose: clients learn why its signatures fail
            warnings.append(
                f"{status.name}: revoked in {TRUST_FILE} on {revocation.date.isoformat()}"
                f" ({revocation.reason}); every signature by it is refused"
            )
        elif state in _STATE_PROBLEMS:
            problems.append(
                Problem(trust_file, _STATE_PROBLEMS[state], field=f"keys.{status.name}")
            )
        elif state == "expiring" and status.key and status.key.expires:
            warnings.append(
                f"{status.name}: expires on {status.key.expires:%Y-%m-%d}; extend or rotate it"
            )
    referenced = {Path(source.origin) / t.file for t in source.trust.keys.values()}
    for unused in sorted(set(source.key_files) - referenced):
        warnings.append(f"{unused}: not referenced by {TRUST_FILE}; it can verify nothing")
    if not source.trust.keys:
        problems.append(Problem(trust_file, "trusts no key: nothing can be verified"))
    return problems, warnings


def export_public_keys(source: KeySource, names: tuple[str, ...]) -> bytes:
    """ASCII-armored public keys of the named trusted keys (all when none is named)."""
    unknown = [n for n in names if n not in source.trust.keys]
    if unknown:
        known = ", ".join(sorted(source.trust.keys)) or "none"
        raise InvalidInput(f"no trusted key named {', '.join(unknown)} (known: {known})")
    chosen = names or tuple(sorted(source.trust.keys))
    fingerprints = [source.trust.keys[n].fingerprint for n in chosen]
    with temporary_home("rel-export-") as home:
        runner.run(import_argv(home, source.key_files), timeout=120)
        return runner.run([*export_argv(home), "--armor", *fingerprints], timeout=120).stdout
