"""A page-blob upload in its own process, for the kill -9 test: ACCOUNT_URL CONTAINER FILE.
The account key comes from AZURE_STORAGE_CONNECTION_STRING, as in production."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from release.publish.azure_blob import stage_vhd
from release.publish.azure_client import blob_client
from release.publish.mirror import LocalFile
from release.publish.retry import Retrier


def main() -> None:
    url, container, name = sys.argv[1:4]
    path = Path(name)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    f = LocalFile(path.name, path, path.stat().st_size, digest, "step")
    stage_vhd(blob_client(url, container, path.name), f, "img", "1.0", Retrier(), 2)


if __name__ == "__main__":
    main()
