"""`python -m tests.chaos.glance_entry ENDPOINT DISK JOURNAL METHOD`: publish DISK (as release
img 1.0) to the Glance at ENDPOINT, as reconcile's registry step does; for kill -9 tests."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from release.model.target import OpenStackGlanceTarget
from release.publish.engine import local_file
from release.publish.glance_image import GlanceRegistry, GlanceSpec
from release.publish.journal import Journal
from release.publish.registry import Patience
from release.publish.retry import Retrier, RetrySettings


def main() -> None:
    endpoint, disk, journal_path, method = sys.argv[1:5]
    target = OpenStackGlanceTarget(
        type="openstack-glance", endpoint_url=endpoint, import_method=method,
        visibility="public",
    )  # fmt: skip
    with Journal(Path(journal_path)) as journal:
        artifact = local_file(Path(disk), endpoint, journal)
        registry = GlanceRegistry(
            target, artifact, "img", "1.0", GlanceSpec(7, "x86_64", 1 << 30, False), journal,
            retrier=Retrier(RetrySettings(attempts=6, initial_wait=0.05, max_wait=0.5)),
            patience=Patience(first=0.05, longest=0.5, timeout=120),
        )  # fmt: skip
        result = registry.publish_image()
    print(json.dumps({"images": result.images, "created": result.created}))


if __name__ == "__main__":
    main()
