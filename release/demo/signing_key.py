"""The demo's signing key: a fresh RSA key in a private GNUPGHOME inside the demo directory
(EL6/EL7's gpg has no ECC). Only its public half goes into the config repo."""

from __future__ import annotations

from pathlib import Path

from release import runner
from release.errors import InvalidInput

UID = "Image Release Demo <demo@example.invalid>"
# gpg-agent's socket lives in the home: a long path fails with "No agent running".
MAX_HOME = 90


def gen_key_argv(uid: str = UID) -> list[str]:
    return ["gpg", "--batch", "--passphrase", "", "--quick-gen-key", uid, "rsa3072", "sign", "2y"]


def secret_fingerprints(colons: str) -> list[str]:
    """Fingerprints of the primary secret keys in `gpg --with-colons --list-secret-keys`."""
    found, after_sec = [], False
    for line in colons.splitlines():
        kind = line.split(":", 1)[0]
        if kind == "sec":
            after_sec = True
        elif kind == "fpr" and after_sec:
            found.append(line.split(":")[9])
            after_sec = False
    return found


def ensure_key(home: Path) -> tuple[str, bool]:
    """(fingerprint, made now) of the one secret key in `home`, generated when there is none."""
    if len(str(home)) > MAX_HOME:
        raise InvalidInput(
            f"{home}: too long a path for gpg-agent's socket; run the demo in a shorter directory"
        )
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {"GNUPGHOME": str(home)}
    existing = _list(env)
    if existing:
        return existing[0], False
    runner.run(gen_key_argv(), env=env)
    return _list(env)[0], True


def export_public(home: Path, fingerprint: str) -> bytes:
    env = {"GNUPGHOME": str(home)}
    return runner.run(["gpg", "--batch", "--armor", "--export", fingerprint], env=env).stdout


def _list(env: dict[str, str]) -> list[str]:
    colons = runner.run(["gpg", "--batch", "--with-colons", "--list-secret-keys"], env=env)
    return secret_fingerprints(colons.stdout.decode())
