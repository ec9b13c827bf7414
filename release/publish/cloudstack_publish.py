"""Feeding a cloudstack-template target: the release to its mirror, then the template.

The mirror is another target of the config (by name); publishing the release there is the
usual create-only, journaled, read-back publish, so the later mirror step of a channel finds
the files present and only writes its index. The template's URL is the mirror's public base
URL joined with the release's layout (`<image>/<version>/<file>`).
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from release.errors import InvalidInput, OperationError
from release.model.image import ImageDefinition
from release.model.target import CloudStackTemplateTarget, Target
from release.publish.api import publish
from release.publish.cloudstack import TemplateRegistry, TemplateSpec
from release.publish.cloudstack_client import CloudStackApi
from release.publish.journal import JournalStore
from release.publish.mirror import LocalFile
from release.publish.options import Options
from release.publish.registry import ImageResult, Patience
from release.publish.retry import Retrier


def public_url(target: CloudStackTemplateTarget, image: str, version: str, name: str) -> str:
    """Where CloudStack downloads the qcow2 from (pure)."""
    parts = (image, version, name)
    return "/".join([target.public_url, *(urllib.parse.quote(p) for p in parts)])


def publish_template(
    target: CloudStackTemplateTarget,
    directory: Path,
    qcow2: LocalFile,
    image: ImageDefinition,
    journal: JournalStore,
    targets: dict[str, Target],
    options: Options | None = None,
    patience: Patience | None = None,
) -> ImageResult:
    mirror = targets.get(target.mirror)
    if mirror is None:
        raise InvalidInput(f"cloudstack-template: unknown mirror target {target.mirror!r}")

    def stage() -> str:
        summary = publish(directory, mirror, journal, options=options, show_progress=False)
        if not summary.ok:
            raise OperationError(
                f"publishing to mirror {target.mirror} for CloudStack failed: {summary.error}"
            )
        return public_url(target, image.name, image.version, qcow2.name)

    variant = next(v for v in image.variants if image.stack_of(v) == "cloudstack")
    spec = TemplateSpec(
        el=image.el, password_enabled=image.template_for(variant).login == "password"
    )
    api = CloudStackApi(target.endpoint, Retrier())
    registry = TemplateRegistry(
        target,
        api,
        image.name,
        image.version,
        qcow2.sha256,
        spec,
        stage,
        patience=patience,
    )
    return registry.publish_image()
