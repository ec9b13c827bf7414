"""Verifying detached signatures with a dedicated keyring, pinned to trusted fingerprints.

Never the user's keyring: gpgv gets a keyring built from the given keys only, in a temporary
home. Every signature on a file is judged (gpgv's `--status-fd` reports each one after a
NEWSIG line; python-gnupg would show only the last), and a file is accepted only if all of
them are good and made by a fingerprint the trust file allows for the channel.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from release import runner
from release.integrity.gpghome import temporary_home
from release.integrity.keysource import KeySource

MAX_SIGNATURE_SIZE = 64 << 10  # an armored signature is under 1 KiB per key


def armor_problem(signature: bytes) -> str | None:
    """Why `signature` is not exactly one ASCII-armored OpenPGP signature block, or None.

    gpg ignores text after the END line; we do not, so nothing can ride along unsigned.
    """
    if not signature.strip():
        return "is empty"
    if len(signature) > MAX_SIGNATURE_SIZE:
        return f"is larger than {MAX_SIGNATURE_SIZE} bytes"
    try:
        text = signature.decode("ascii")
    except UnicodeDecodeError:
        return "is not an ASCII-armored signature (binary or garbage)"
    lines = text.strip().splitlines()
    if not lines:  # only characters str.strip() removes and bytes.strip() keeps, e.g. \x1d
        return "is empty"
    if lines[0] != "-----BEGIN PGP SIGNATURE-----":
        return "does not start with '-----BEGIN PGP SIGNATURE-----' (garbage or wrong file)"
    ends = [i for i, line in enumerate(lines) if line.startswith("-----")]
    if len(ends) != 2 or lines[-1] != "-----END PGP SIGNATURE-----":
        return "has text after '-----END PGP SIGNATURE-----' or more than one armor block"
    return None


@dataclass(frozen=True)
class Signature:
    """One signature found on a file, and what we make of it."""

    status: str  # GOODSIG, BADSIG, EXPKEYSIG, REVKEYSIG, EXPSIG, ERRSIG
    key_id: str
    fingerprint: str | None = None  # the signing (sub)key
    primary: str | None = None  # its primary key: what trust.yaml pins
    reason: str = ""
    ok: bool = False


@dataclass(frozen=True)
class SignatureCheck:
    file: str
    signatures: tuple[Signature, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return bool(self.signatures) and not self.problems and all(s.ok for s in self.signatures)

    @property
    def signers(self) -> tuple[str, ...]:
        return tuple(s.primary for s in self.signatures if s.ok and s.primary)


_SIG_STATUSES = ("GOODSIG", "BADSIG", "EXPSIG", "EXPKEYSIG", "REVKEYSIG", "ERRSIG")


def parse_status(text: str) -> list[dict[str, list[str]]]:
    """Group `[GNUPG:]` status lines by signature (each starts with NEWSIG)."""
    groups: list[dict[str, list[str]]] = []
    for line in text.splitlines():
        if not line.startswith("[GNUPG:] "):
            continue
        keyword, *args = line[len("[GNUPG:] ") :].split(" ")
        if keyword == "NEWSIG" or (keyword in _SIG_STATUSES and not groups):
            groups.append({})
        if keyword == "NEWSIG":
            continue
        if groups:
            groups[-1][keyword] = args
    return [group for group in groups if any(s in group for s in _SIG_STATUSES)]


@dataclass
class _Judge:
    allowed: set[str]
    source: KeySource
    channel: str | None
    reasons: list[str] = field(default_factory=list)

    def signature(self, group: dict[str, list[str]]) -> Signature:
        status = next(s for s in _SIG_STATUSES if s in group)
        args = group[status]
        key_id = args[0] if args else "?"
        valid = group.get("VALIDSIG", [])
        fingerprint = valid[0] if valid else None
        primary = valid[9] if len(valid) >= 10 else fingerprint
        reason = self._reason(status, key_id, primary, args)
        if reason:
            return Signature(status, key_id, fingerprint, primary, reason, False)
        who = self.source.describe(primary or key_id)
        return Signature(status, key_id, fingerprint, primary, f"good signature by {who}", True)

    def _reason(self, status: str, key_id: str, primary: str | None, args: list[str]) -> str:
        who = self.source.describe(primary or key_id)
        if status == "ERRSIG":
            if len(args) >= 6 and args[5] == "9":
                return (
                    f"signed by key ID {key_id}, which is not among the trusted keys of"
                    f" {self.source.origin} (unknown signer)"
                )
            return (
                f"signature cannot be checked (gpg error code {args[5] if len(args) > 5 else '?'})"
            )
        if status == "BADSIG":
            return f"BAD signature by {who}: the file was changed after it was signed"
        if status == "EXPKEYSIG":
            return f"signed by {who}, whose key has expired"
        if status == "REVKEYSIG":
            return f"signed by {who}, whose key has been revoked"
        if status == "EXPSIG":
            return f"the signature by {who} has expired"
        if primary is None:
            return f"gpg reported no fingerprint for key ID {key_id}"
        if primary not in self.allowed:
            scope = f"channel {self.channel!r}" if self.channel else "any channel"
            if primary in {k.fingerprint for k in self.source.trust.keys.values()}:
                why = self.source.trust.refusal(primary, None)  # revoked or retired: say so
                refused = (
                    f"signed by {who} ({primary}), which trust.yaml does not allow for {scope}"
                )
                return f"{refused}: {why}" if why else refused
            return f"signed by {primary}, which is not in trust.yaml (not allowed for {scope})"
        return ""


def gpgv_argv(home: Path, keyring: Path, signature: Path, data: Path) -> list[str]:
    return [
        "gpgv",
        "--homedir",
        str(home),
        "--keyring",
        str(keyring.resolve()),
        "--status-fd",
        "1",
        str(signature),
        str(data),
    ]


def import_argv(home: Path, files: tuple[Path, ...]) -> list[str]:
    return ["gpg", "--homedir", str(home), "--batch", "--no-tty", "--import", *map(str, files)]


def export_argv(home: Path) -> list[str]:
    return ["gpg", "--homedir", str(home), "--batch", "--no-tty", "--export"]


class Keyring:
    """A dedicated keyring of the source's keys; verifies detached signatures of bytes."""

    def __init__(self, source: KeySource, home: Path) -> None:
        self.source = source
        self.home = home
        self.path = home / "verify-keyring.gpg"

    def _build(self) -> None:
        runner.run(import_argv(self.home, self.source.key_files), timeout=120)
        exported = runner.run(export_argv(self.home), timeout=120).stdout
        self.path.write_bytes(exported)

    def verify(
        self, data: bytes, signature: bytes, file: str, channel: str | None = None
    ) -> SignatureCheck:
        """Check `signature` over exactly `data` (the bytes the caller then parses)."""
        problem = armor_problem(signature)
        if problem:
            return SignatureCheck(file, problems=(f"{file}.asc {problem}",))
        token = uuid.uuid4().hex
        data_path = self.home / f"{token}.data"
        sig_path = self.home / f"{token}.asc"
        data_path.write_bytes(data)
        sig_path.write_bytes(signature)
        try:
            argv = gpgv_argv(self.home, self.path, sig_path, data_path)
            result = runner.run(argv, check=False, timeout=120)
        finally:
            data_path.unlink(missing_ok=True)
            sig_path.unlink(missing_ok=True)
        return self._judge(result.text, result.returncode, file, channel)

    def _judge(
        self, status: str, returncode: int, file: str, channel: str | None
    ) -> SignatureCheck:
        judge = _Judge(self.source.trust.allowed_fingerprints(channel), self.source, channel)
        signatures = tuple(judge.signature(group) for group in parse_status(status))
        problems: list[str] = []
        if not signatures:
            problems.append(f"{file}.asc holds no signature gpg can read (garbage?)")
        elif returncode != 0 and all(s.ok for s in signatures):
            problems.append(f"gpgv failed (exit {returncode}) on {file}.asc")
        problems.extend(f"{file}.asc: {s.reason}" for s in signatures if not s.ok)
        return SignatureCheck(file, signatures, tuple(problems))


@contextlib.contextmanager
def open_keyring(source: KeySource) -> Iterator[Keyring]:
    with temporary_home("rel-verify-") as home:
        keyring = Keyring(source, home)
        keyring._build()
        yield keyring
