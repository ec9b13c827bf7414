"""Azurite (the Azure Storage emulator, npm package `azurite`) on 127.0.0.1 for tests.

.ci/setup installs it into .venv/azurite; it is found next to the venv's python, never on
PATH. It keeps its data in a temporary directory and sends no telemetry.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from release.publish.mirror import LocalFile
from tests.publish.conftest import free_port, process

ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, documented; not a secret).
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def azurite_bin() -> Path:
    found = (
        Path(sys.executable).parent.parent / "azurite" / "node_modules" / ".bin" / "azurite-blob"
    )
    if not found.exists():
        raise RuntimeError(f"{found} is missing: run .ci/setup (it installs azurite with npm)")
    return found


@dataclass(frozen=True)
class Azurite:
    port: int

    @property
    def account_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    def connection_string(self, account_url: str | None = None) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint={account_url or self.account_url};"
        )


@contextlib.contextmanager
def azurite(location: Path) -> Iterator[Azurite]:
    port = free_port()
    argv = [
        str(azurite_bin()),
        "--blobHost", "127.0.0.1",
        "--blobPort", str(port),
        "--location", str(location),
        "--silent",
        "--disableTelemetry",
        "--skipApiVersionCheck",
    ]  # fmt: skip
    with process(argv, port):
        yield Azurite(port)


def make_vhd(path: Path, virtual: int, chunks: list[tuple[int, int]], seed: int = 7) -> int:
    """A sparse file of `virtual` + 512 bytes with random data at `chunks` (offset, length)
    and a footer; the number of non-zero bytes written."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    with path.open("wb") as f:
        f.truncate(virtual + 512)
        for offset, length in chunks:
            f.seek(offset)
            f.write(rng.randbytes(length))
        f.seek(virtual)
        f.write(b"conectix" + rng.randbytes(504))
    return sum(n for _, n in chunks) + 512


def local(path: Path) -> LocalFile:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return LocalFile(path.name, path, path.stat().st_size, digest, "step-" + digest[:8])
