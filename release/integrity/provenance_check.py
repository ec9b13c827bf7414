"""Checking a release's provenance envelope against its signed manifest and checksums.

The envelope's signature is checked over the DSSE pre-authentication encoding of the very
payload bytes then decoded; the statement must then say what the signed manifest says: the
same image, version and config commit, and a subject with the verified sha256 for every
artifact, package list and SBOM (and nothing else).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from release.integrity import provenance
from release.integrity.keyring import Keyring, SignatureCheck
from release.integrity.manifest import Manifest
from release.integrity.provenance import PROVENANCE, ProvenanceError


def check_provenance(
    data: bytes,
    keyring: Keyring,
    channel: str | None,
    manifest: Manifest,
    sha256: Mapping[str, str],
) -> tuple[SignatureCheck, dict[str, Any] | None, list[str]]:
    """The signature check, the statement (None unless signed by a trusted key), problems."""
    try:
        envelope = provenance.parse_envelope(data)
        document = envelope.statement()
    except ProvenanceError as error:
        return SignatureCheck(PROVENANCE, problems=(str(error),)), None, []
    checks = [
        keyring.verify(envelope.signed_bytes, signature, PROVENANCE, channel)
        for _, signature in envelope.signatures
    ]
    check = next((c for c in checks if c.ok), checks[0])
    if not check.ok:
        return check, None, []
    return check, document, statement_problems(document, manifest, sha256)


def statement_problems(
    document: Mapping[str, Any], manifest: Manifest, sha256: Mapping[str, str]
) -> list[str]:
    """Where a signed statement disagrees with the signed manifest and checksums (pure)."""
    records = manifest.records()
    covered = {name: sha256[name] for name in records if name in sha256 and name != PROVENANCE}
    problems = provenance.subject_problems(document, covered)
    named = (
        {s.get("name") for s in document.get("subject", []) if isinstance(s, dict)}
        if isinstance(document.get("subject"), list)
        else set()
    )
    for name in sorted(set(covered) - named):
        problems.append(f"{PROVENANCE}: {name} is in the release but not among the subjects")
    parameters = _parameters(document)
    expected = {"image": manifest.image, "version": manifest.version, "commit": manifest.commit}
    for key, value in expected.items():
        if parameters.get(key) != value:
            problems.append(
                f"{PROVENANCE}: says {key} {parameters.get(key)!r}, the signed manifest {value!r}"
            )
    return problems


def _parameters(document: Mapping[str, Any]) -> Mapping[str, Any]:
    try:
        value = document["predicate"]["buildDefinition"]["externalParameters"]
    except (KeyError, TypeError):
        return {}
    return value if isinstance(value, Mapping) else {}
