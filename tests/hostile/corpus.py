"""Known-good documents the hostile cases are derived from (pure data, no IO)."""

from __future__ import annotations

import json
from typing import Any

H256 = "a" * 64
H1 = "b" * 40
HMD5 = "c" * 32
ARTIFACT = "img-1.0-base.qcow2"


def digests() -> dict[str, str]:
    return {"md5": f"md5:{HMD5}", "sha1": f"sha1:{H1}", "sha256": f"sha256:{H256}"}


def manifest() -> dict[str, Any]:
    return {
        "format_version": 1,
        "image": "img",
        "version": "1.0",
        "variants": ["base"],
        "commit": "0123456789abcdef0123456789abcdef01234567",
        "build": {"builder": "ci", "time": "2026-11-24T12:00:00Z", "tools": {}},
        "artifacts": [
            {
                "name": ARTIFACT,
                "size": 10,
                "digests": digests(),
                "variant": "base",
                "format": "qcow2",
            }
        ],
        "files": [],
        "packages": {},
        "sboms": {},
    }


def index(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "spec_version": 1,
        "serial": 7,
        "issued": "2026-11-24T00:00:00Z",
        "expires": "2026-12-24T00:00:00Z",
        "channel": "stable",
        "current": {
            "image": "img",
            "version": "1.0",
            "path": "img/1.0",
            "manifest_sha256": H256,
        },
        "history": [],
    }
    document.update(changes)
    return document


def dumps(document: object) -> bytes:
    return json.dumps(document).encode()
