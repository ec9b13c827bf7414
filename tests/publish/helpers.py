"""Building small release dirs for publish tests."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

ARTIFACT = "img-1.0-base.qcow2"


def make_release(base: Path, *, artifact_size: int = 3 * 1024 * 1024, seed: int = 1) -> Path:
    """A release dir `<base>/img/1.0/` with an artifact and every kind of metadata file."""
    rel = base / "img" / "1.0"
    rel.mkdir(parents=True)
    block = os.urandom(1024 * 64) if seed else b"\0" * 65536
    data = (block * (artifact_size // len(block) + 1))[:artifact_size]
    (rel / ARTIFACT).write_bytes(bytes([seed % 256]) + data[1:])
    (rel / "img-1.0-base.packages").write_text("bash\t0\t4.2\t1\tx86_64\n")
    (rel / "manifest.json").write_text('{"image": "img", "version": "1.0"}\n')
    (rel / "sha256sum.txt").write_text(f"00  {ARTIFACT}\n")
    (rel / "sha256sum.txt.asc").write_text("-----BEGIN PGP SIGNATURE-----\n")
    (rel / "manifest.json.asc").write_text("-----BEGIN PGP SIGNATURE-----\n")
    return rel


def seal(rel: Path) -> None:
    """Give the release a real sha256sum.txt, as sealing does: every file but the checksum
    file and its signature, so publishing reuses these digests instead of hashing."""
    lines = [
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n"
        for p in sorted(rel.iterdir())
        if not p.name.startswith("sha256sum.txt")
    ]
    (rel / "sha256sum.txt").write_text("".join(lines))


def flip_byte(path: Path, offset: int) -> None:
    """Corrupt one byte in place (what a bad disk or a stray write does after sealing)."""
    with path.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def same_tree(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.iterdir())
    if names != sorted(p.name for p in b.iterdir()):
        return False
    return all((a / n).read_bytes() == (b / n).read_bytes() for n in names)
