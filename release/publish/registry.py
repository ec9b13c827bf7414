"""Registries turn one artifact of a release into a cloud image (AWS AMI, GCE image).

A registry stages the disk in its cloud's object store (through the S3 or GCS mirror, with
all their guarantees), imports it, and tags or labels the image with the release, so "an
image already tagged with this release" means done and a rerun is cheap.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from release.errors import OperationError

log = logging.getLogger("release.publish")

T = TypeVar("T")


@dataclass(frozen=True)
class ImageResult:
    """What a registry published: image ids per region (or project), and whether it was new."""

    name: str
    images: dict[str, str]
    created: bool
    detail: str = ""


class Registry(Protocol):
    def publish_image(self) -> ImageResult:
        """Find the release's image, or stage, import and register it; idempotent."""
        ...


@dataclass(frozen=True)
class Patience:
    """Polling for long cloud operations: an import taking an hour is normal."""

    first: float = 10.0
    longest: float = 120.0
    factor: float = 1.5
    timeout: float = 4 * 3600.0
    sleep: Callable[[float], None] = field(default=time.sleep)

    def wait_for(self, what: str, poll: Callable[[], T | None]) -> T:
        """Call `poll` until it returns a value, backing off, logging progress each time."""
        started = time.monotonic()
        delay = self.first
        while True:
            result = poll()
            if result is not None:
                return result
            waited = time.monotonic() - started
            if waited + delay > self.timeout:
                raise OperationError(
                    f"{what}: not done after {waited:.0f} s; rerun to keep waiting"
                )
            log.info("%s: waiting %.0f s more (%.0f s so far)", what, delay, waited)
            self.sleep(delay)
            delay = min(delay * self.factor, self.longest)


def release_tags(image: str, version: str, sha256: str) -> dict[str, str]:
    """Tags (AWS) / labels (GCE) that name the release an image was made from."""
    return {"release-image": image, "release-version": version, "release-sha256": sha256}


def ena_support(el_major: int) -> bool:
    """ENA drivers: EL7 kernels have them (7.4+), EL6 kernels do not."""
    return el_major >= 7
