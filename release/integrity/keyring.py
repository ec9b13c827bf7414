"""Verification keys: a keys directory (public keys + trust.yaml) or one public key file,
turned into a dedicated keyring, and detached signatures checked against it.

Never the user's keyring: gpgv gets a keyring built from these keys only, in a temporary
home. Every signature on a file is judged (gpgv's `--status-fd` reports each one after a
NEWSIG line; python-gnupg would show only the last), and a file is accepted only if all of
them are good and made by a fingerprint the trust file allows for the channel.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from release import runner
from release.errors import ConfigError, InvalidInput, Problem
from release.integrity.gpghome import temporary_home
from release.model.trust import TrustFile

TRUST_FILE = "trust.yaml"
MAX_SIGNATURE_SIZE = 64 << 10  # an armored signature is under 1 KiB per key
_PRIVATE_MARK = b"PRIVATE KEY BLOCK"
RSA_ALGORITHMS = {1, 2, 3}


# ---- key files ---------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyInfo:
    """One OpenPGP key as `gpg --show-keys --with-colons` describes it."""

    fingerprint: str
    algorithm: int
    bits: int
    created: dt.datetime
    expires: dt.datetime | None
    validity: str
    secret: bool
    uids: tuple[str, ...] = ()
    subkeys: tuple[str, ...] = ()

    @property
    def revoked(self) -> bool:
        return self.validity == "r"

    def expired(self, now: dt.datetime | None = None) -> bool:
        now = now or dt.datetime.now(dt.UTC)
        return self.validity == "e" or (self.expires is not None and self.expires <= now)

    @property
    def is_rsa(self) -> bool:
        return self.algorithm in RSA_ALGORITHMS

    @property
    def user(self) -> str:
        return self.uids[0] if self.uids else self.fingerprint


def show_keys_argv(home: Path, key_file: Path) -> list[str]:
    return [
        "gpg",
        "--homedir",
        str(home),
        "--batch",
        "--no-tty",
        "--with-colons",
        "--fixed-list-mode",
        "--show-keys",
        str(key_file),
    ]


def _when(field_value: str) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(int(field_value), dt.UTC) if field_value else None


@dataclass
class _KeyBuilder:
    record: list[str]
    fingerprint: str = ""
    secret: bool = False
    uids: list[str] = field(default_factory=list)
    subkeys: list[str] = field(default_factory=list)

    def build(self) -> KeyInfo:
        created = _when(self.record[5])
        return KeyInfo(
            fingerprint=self.fingerprint,
            algorithm=int(self.record[3] or 0),
            bits=int(self.record[2] or 0),
            created=created or dt.datetime.fromtimestamp(0, dt.UTC),
            expires=_when(self.record[6]),
            validity=self.record[1],
            secret=self.secret or self.record[0] == "sec",
            uids=tuple(self.uids),
            subkeys=tuple(self.subkeys),
        )


def parse_colons(text: str) -> list[KeyInfo]:
    """Keys from gpg's colon listing: pub/sec starts a key, the next fpr is its fingerprint."""
    keys: list[_KeyBuilder] = []
    expecting: str | None = None  # which record the next fpr line belongs to
    for line in text.splitlines():
        fields = line.split(":")
        kind = fields[0]
        if kind in ("pub", "sec") and len(fields) > 6:
            keys.append(_KeyBuilder(fields))
            expecting = "primary"
        elif kind in ("sub", "ssb") and keys:
            keys[-1].secret = keys[-1].secret or kind == "ssb"
            expecting = "subkey"
        elif kind == "fpr" and keys and expecting and len(fields) > 9:
            if expecting == "primary":
                keys[-1].fingerprint = fields[9]
            else:
                keys[-1].subkeys.append(fields[9])
            expecting = None
        elif kind == "uid" and keys and len(fields) > 9:
            keys[-1].uids.append(fields[9])
    return [key.build() for key in keys if key.fingerprint]


def read_key_file(path: Path) -> list[KeyInfo]:
    with temporary_home() as home:
        result = runner.run(show_keys_argv(home, path.resolve()), check=False, timeout=60)
    keys = parse_colons(result.text)
    if result.returncode != 0 or not keys:
        raise InvalidInput(f"{path}: not an OpenPGP public key file (gpg --show-keys found no key)")
    return keys


# ---- the trust file and key sources ---------------------------------------------------------


def load_trust_file(path: Path) -> TrustFile:
    """Read and validate keys/trust.yaml; every problem is reported with its field."""
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(
            f"{path}: missing; a keys directory needs a trust file naming which key may sign"
            " which channels (see docs/verifying.md)"
        ) from None
    except (YAMLError, UnicodeDecodeError) as error:
        raise ConfigError([Problem(str(path), f"not valid YAML: {error}")]) from None
    try:
        return TrustFile.model_validate(data if data is not None else {})
    except ValidationError as error:
        raise ConfigError(
            [
                Problem(str(path), e["msg"], field=".".join(str(p) for p in e["loc"]))
                for e in error.errors()
            ]
        ) from None


@dataclass(frozen=True)
class KeySource:
    """The public keys to verify with, and who may sign what."""

    origin: str
    trust: TrustFile
    key_files: tuple[Path, ...]
    keys: tuple[KeyInfo, ...]

    def name_of(self, fingerprint: str) -> str:
        for name, trusted in self.trust.keys.items():
            if trusted.fingerprint == fingerprint:
                return name
        return fingerprint

    def key(self, key_id_or_fingerprint: str) -> KeyInfo | None:
        """The key with this fingerprint or 16-hex-digit key ID (primary or subkey)."""
        wanted = key_id_or_fingerprint.upper()
        for key in self.keys:
            if any(fpr.endswith(wanted) for fpr in (key.fingerprint, *key.subkeys)):
                return key
        return None

    def describe(self, key_id_or_fingerprint: str) -> str:
        """A trust name when the key is known, else 'key ID ...'."""
        key = self.key(key_id_or_fingerprint)
        if key is None:
            return f"key ID {key_id_or_fingerprint}"
        return self.name_of(key.fingerprint)


def _refuse_private_keys(paths: list[Path]) -> None:
    for path in paths:
        if _PRIVATE_MARK in path.read_bytes():
            raise InvalidInput(
                f"{path}: contains a PRIVATE key: remove it from the keys directory NOW and"
                " rotate it; only public keys belong there"
            )


def load_key_source(path: Path) -> KeySource:
    """A keys directory (`*.asc` + trust.yaml) or one public key file trusted everywhere."""
    if path.is_dir():
        return _load_keys_dir(path)
    if not path.is_file():
        raise InvalidInput(f"{path}: no such keys directory or public key file")
    _refuse_private_keys([path])
    keys = read_key_file(path)
    _refuse_secret(path, keys)
    trust = TrustFile.model_validate(
        {
            "keys": {
                f"key-{k.fingerprint[-16:]}": {"file": path.name, "fingerprint": k.fingerprint}
                for k in keys
            }
        }
    )
    return KeySource(str(path), trust, (path,), tuple(keys))


def _refuse_secret(path: Path, keys: list[KeyInfo]) -> None:
    if any(k.secret for k in keys):
        raise InvalidInput(
            f"{path}: contains a PRIVATE key: remove it from the keys directory NOW and rotate"
            " it; only public keys belong there"
        )


def _load_keys_dir(directory: Path) -> KeySource:
    _refuse_private_keys(sorted(p for p in directory.iterdir() if p.is_file()))
    trust = load_trust_file(directory / TRUST_FILE)
    files = sorted(directory.glob("*.asc"))
    problems: list[Problem] = []
    for name, trusted in trust.keys.items():
        if not (directory / trusted.file).is_file():
            problems.append(
                Problem(
                    str(directory / TRUST_FILE),
                    f"key file {trusted.file} is missing",
                    field=f"keys.{name}.file",
                )
            )
        elif directory / trusted.file not in files:
            files.append(directory / trusted.file)
    if problems:
        raise ConfigError(problems)
    by_file: dict[Path, list[KeyInfo]] = {}
    for file in files:
        by_file[file] = read_key_file(file)
        _refuse_secret(file, by_file[file])
    for name, trusted in trust.keys.items():
        if trusted.fingerprint not in {k.fingerprint for k in by_file[directory / trusted.file]}:
            problems.append(
                Problem(
                    str(directory / TRUST_FILE),
                    f"fingerprint {trusted.fingerprint} is not the primary key of {trusted.file}",
                    field=f"keys.{name}.fingerprint",
                    hint="pin the primary key's fingerprint (gpg --show-keys FILE)",
                )
            )
    if problems:
        raise ConfigError(problems)
    keys = [key for found in by_file.values() for key in found]
    return KeySource(str(directory), trust, tuple(files), tuple(keys))


# ---- signatures ---------------------------------------------------------------------------


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
        return Signature(status, key_id, fingerprint, primary, "good signature", True)

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
                return f"signed by {who} ({primary}), which trust.yaml does not allow for {scope}"
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
