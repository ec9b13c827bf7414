"""Where verification keys come from: a keys directory (`*.asc` public keys + trust.yaml)
or one public key file, whose keys are then trusted for every channel.

A private key anywhere in a keys directory is a loud error: it must be removed and rotated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from release.errors import ConfigError, InvalidInput, Problem
from release.integrity.keyinfo import KeyInfo, looks_secret, read_key_file
from release.model.trust import TrustFile

TRUST_FILE = "trust.yaml"


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
        if looks_secret(path.read_bytes()):
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
