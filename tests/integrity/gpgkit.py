"""Test keys made with the real gpg: generated once per session, in short /tmp homes."""

from __future__ import annotations

import base64
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

_CRC24_INIT = 0xB704CE
_CRC24_POLY = 0x1864CFB


def gpg(home: Path, *args: str, input: bytes | None = None) -> bytes:
    proc = subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--no-tty", *args],
        input=input,
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def new_home() -> Path:
    home = Path(tempfile.mkdtemp(prefix="t-gpg-", dir="/tmp"))
    home.chmod(0o700)
    return home


def destroy_home(home: Path) -> None:
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)
    shutil.rmtree(home, ignore_errors=True)


def fingerprint_of(home: Path, uid: str) -> str:
    listing = gpg(home, "--with-colons", "--list-keys", uid).decode()
    return next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))


def armor_signature(binary: bytes) -> bytes:
    """ASCII armor (RFC 4880 section 6) for hand-assembled signature packets."""
    crc = _CRC24_INIT
    for byte in binary:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= _CRC24_POLY
    body = base64.encodebytes(binary).decode().replace("\n", "\n").strip()
    checksum = base64.b64encode((crc & 0xFFFFFF).to_bytes(3, "big")).decode()
    text = f"-----BEGIN PGP SIGNATURE-----\n\n{body}\n={checksum}\n-----END PGP SIGNATURE-----\n"
    return text.encode()


@dataclass
class Keys:
    """Secret keys in `home` (none revoked there); public exports as keys/ would hold them."""

    home: Path
    revoked_home: Path  # holds the revoked key's secret key, revocation imported
    fpr: dict[str, str] = field(default_factory=dict)
    public: dict[str, bytes] = field(default_factory=dict)
    secret: dict[str, bytes] = field(default_factory=dict)

    def sign(self, name: str, data: bytes, faked_time: str | None = None) -> bytes:
        extra = [f"--faked-system-time={faked_time}!"] if faked_time else []
        return gpg(
            self.home,
            *extra,
            "--local-user",
            self.fpr[name] + "!",
            "--armor",
            "--detach-sign",
            input=data,
        )

    def sign_release_file(self, directory: Path, name: str, signer: str = "good") -> None:
        data = (directory / name).read_bytes()
        faked = EXPIRED_SIGN_TIME if signer == "expired" else None
        (directory / f"{name}.asc").write_bytes(self.sign(signer, data, faked))


EXPIRED_CREATED = "20240101T000000"
EXPIRED_SIGN_TIME = "20240102T000000"
PASSPHRASE = "correct horse battery"


def make_keys() -> Keys:
    home = new_home()
    keys = Keys(home, new_home())
    for name in ("good", "el6", "stranger", "revoked"):
        gpg(home, "--passphrase", "", "--quick-gen-key", f"{name} <{name}@test>", "rsa2048")
    gpg(home, "--passphrase", "", "--quick-gen-key", "soon <soon@test>", "rsa2048", "sign", "10d")
    gpg(home, "--passphrase", "", "--quick-gen-key", "ecc <ecc@test>", "ed25519", "sign")
    gpg(
        home,
        f"--faked-system-time={EXPIRED_CREATED}!",
        "--passphrase",
        "",
        "--quick-gen-key",
        "expired <expired@test>",
        "rsa2048",
        "sign",
        "2024-02-01",
    )
    for name in ("good", "el6", "stranger", "revoked", "soon", "ecc", "expired"):
        keys.fpr[name] = fingerprint_of(home, f"<{name}@test>")
        keys.public[name] = gpg(home, "--armor", "--export", keys.fpr[name])
        keys.secret[name] = gpg(home, "--armor", "--export-secret-keys", keys.fpr[name])
    _revoke(keys)
    _protected(keys)
    return keys


def _revoke(keys: Keys) -> None:
    """Revoke in a second home with gpg's own revocation certificate; export the result."""
    fpr = keys.fpr["revoked"]
    gpg(keys.revoked_home, "--import", input=keys.secret["revoked"])
    certificate = (keys.home / "openpgp-revocs.d" / f"{fpr}.rev").read_text()
    certificate = certificate.replace(
        ":-----BEGIN PGP PUBLIC KEY BLOCK", "-----BEGIN PGP PUBLIC KEY BLOCK"
    )
    gpg(keys.revoked_home, "--import", input=certificate.encode())
    keys.public["revoked"] = gpg(keys.revoked_home, "--armor", "--export", fpr)


def _protected(keys: Keys) -> None:
    """A passphrase-protected key, as a CI secret would hold it."""
    home = new_home()
    try:
        gpg(
            home,
            "--passphrase",
            PASSPHRASE,
            "--pinentry-mode",
            "loopback",
            "--quick-gen-key",
            "protected <protected@test>",
            "rsa2048",
        )
        keys.fpr["protected"] = fingerprint_of(home, "<protected@test>")
        keys.public["protected"] = gpg(home, "--armor", "--export", keys.fpr["protected"])
        keys.secret["protected"] = gpg(
            home,
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            PASSPHRASE,
            "--armor",
            "--export-secret-keys",
            keys.fpr["protected"],
        )
    finally:
        destroy_home(home)


def write_keys_dir(keys: Keys, directory: Path, trust: dict[str, list[str]]) -> Path:
    """keys/ with the named public keys and a trust.yaml giving each its channel globs."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["keys:"]
    for name, channels in trust.items():
        (directory / f"{name}.asc").write_bytes(keys.public[name])
        lines += [
            f"  {name}:",
            f"    file: {name}.asc",
            f"    fingerprint: {keys.fpr[name]}",
            f"    channels: [{', '.join(repr(c) for c in channels)}]",
        ]
    (directory / "trust.yaml").write_text("\n".join(lines) + "\n")
    return directory


def agents_of(home: Path) -> list[int]:
    """Pids of the gpg-agent processes serving `home` (read from /proc)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"gpg-agent") and str(home).encode() in argv:
            found.append(int(proc.name))
    return found
