"""SPDX 2.3 JSON SBOMs of image variants, from their package lists. Pure: no IO.

The image is the described package and CONTAINS one package per rpm, each with a purl, so
scanners can match the rpms against advisories. `created` is the build time, so sealing the
same release twice writes the same document.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

from release import __version__
from release.integrity.manifest import Package


def _spdx_id(text: str) -> str:
    return "SPDXRef-" + re.sub(r"[^A-Za-z0-9.-]", "-", text)


def _purl(package: Package) -> str:
    qualifiers = f"arch={package.arch}"
    if package.epoch:
        qualifiers += f"&epoch={package.epoch}"
    return f"pkg:rpm/{package.name}@{package.version}-{package.release}?{qualifiers}"


def spdx_document(
    image: str,
    version: str,
    variant: str,
    packages: tuple[Package, ...],
    created: dt.datetime,
) -> dict[str, Any]:
    """An SPDX 2.3 JSON document: the image as the described package, containing the rpms."""
    listing = "\n".join(f"{p.name} {p.evr()} {p.arch}" for p in packages).encode()
    namespace_id = hashlib.sha256(listing).hexdigest()[:16]
    root_id = _spdx_id(f"Image-{image}-{version}-{variant}")
    spdx_packages: list[dict[str, Any]] = [_image_package(root_id, image, version, variant)]
    relationships = [
        {
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": root_id,
        }
    ]
    for index, package in enumerate(packages, start=1):
        # An index keeps ids unique: several kernels of one name and arch are common.
        package_id = _spdx_id(f"Package-{index}-{package.name}")
        spdx_packages.append(_spdx_package(package_id, package))
        relationships.append(
            {
                "spdxElementId": root_id,
                "relationshipType": "CONTAINS",
                "relatedSpdxElement": package_id,
            }
        )
    return {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{image}-{version}-{variant}",
        "documentNamespace": (
            f"https://spdx.org/spdxdocs/image-release/{image}/{version}/{variant}-{namespace_id}"
        ),
        "creationInfo": {
            "created": created.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "creators": [f"Tool: image-release-{__version__}"],
        },
        "packages": spdx_packages,
        "relationships": relationships,
    }


def _image_package(root_id: str, image: str, version: str, variant: str) -> dict[str, Any]:
    """The image itself, the package the document describes."""
    return {
        "SPDXID": root_id,
        "name": f"{image}-{variant}",
        "versionInfo": version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "primaryPackagePurpose": "OPERATING-SYSTEM",
    }


def _spdx_package(package_id: str, package: Package) -> dict[str, Any]:
    """One rpm as an SPDX package, named by its purl."""
    return {
        "SPDXID": package_id,
        "name": package.name,
        "versionInfo": package.evr(),
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "externalRefs": [
            {
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": _purl(package),
            }
        ],
    }
