"""The release's provenance: an in-toto Statement v1 with a SLSA v1 provenance predicate, in a
DSSE envelope signed with the release key (`provenance.intoto.jsonl`). Pure, but for nothing.

The statement says what was built (every artifact, package list and SBOM with the sha256 that
`sha256sum.txt` states), from what (the config repo and commit, the image definition's
content hash, the package repos' `repomd.xml` digests, the SBOMs listing every installed
package), by what (the tool and its version, the builder) and when. docs/provenance.md is the
contract.

DSSE signs the pre-authentication encoding (PAE) of the payload, never the JSON as parsed, so
a verifier checks the signature over bytes it then decodes once.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from release import __version__
from release.errors import VerificationError

PROVENANCE = "provenance.intoto.jsonl"
MAX_SIZE = 16 << 20
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://image-release.dev/provenance/image/v1"  # documented in docs/provenance.md
TOOL = "image-release"


class ProvenanceError(VerificationError):
    """provenance.intoto.jsonl is not a signed statement about this release."""


@dataclass(frozen=True)
class Origin:
    """Where a release came from, beyond what the manifest records."""

    repository: str = ""  # the config repo's URL (or path), as the builder saw it
    definition: str = ""  # e.g. images/centos-7.yaml
    definition_digest: str = ""  # sha256:<hex> of the definition's bytes at the commit
    source_date_epoch: int | None = None
    repos: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # name -> (url, digest)
    builder_id: str = ""  # the CI run's URL, or host:<name>
    started: dt.datetime | None = None
    finished: dt.datetime | None = None  # else the release's build time


def builder_id(env: Mapping[str, str], hostname: str) -> str:
    """Who ran the build: the GitHub Actions run when there is one, else the host."""
    server, repo, run = (
        env.get(k, "") for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    if server and repo and run:
        attempt = env.get("GITHUB_RUN_ATTEMPT", "1")
        return f"{server}/{repo}/actions/runs/{run}/attempts/{attempt}"
    return f"host:{hostname}"


def _time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hex(digest: str) -> tuple[str, str]:
    algo, _, value = digest.partition(":")
    return algo, value


def statement(
    *,
    image: str,
    version: str,
    variants: Sequence[str],
    commit: str,
    builder: str,
    tools: Mapping[str, str],
    subjects: Mapping[str, str],
    sboms: Mapping[str, str],
    origin: Origin,
    finished: dt.datetime,
) -> dict[str, Any]:
    """The in-toto Statement (pure). `subjects` and `sboms` map file names to sha256 hex."""
    parameters = _external_parameters(image, version, variants, commit, origin)
    dependencies = _dependencies(commit, origin, sboms)
    internal: dict[str, Any] = {"builder": builder, "tools": dict(sorted(tools.items()))}
    if origin.source_date_epoch is not None:
        internal["SOURCE_DATE_EPOCH"] = origin.source_date_epoch
    metadata = {"finishedOn": _time(finished)}
    if origin.started is not None:
        metadata["startedOn"] = _time(origin.started)
    return {
        "_type": STATEMENT_TYPE,
        "subject": [
            {"name": name, "digest": {"sha256": hexdigest}}
            for name, hexdigest in sorted(subjects.items())
        ],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": parameters,
                "internalParameters": internal,
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": {
                    "id": origin.builder_id or "unknown",
                    "version": {TOOL: __version__},
                },
                "metadata": metadata,
            },
        },
    }


def _external_parameters(
    image: str, version: str, variants: Sequence[str], commit: str, origin: Origin
) -> dict[str, Any]:
    """What the build was asked to make: image, version, variants, commit and definition."""
    parameters: dict[str, Any] = {
        "image": image,
        "version": version,
        "variants": list(variants),
        "commit": commit,
    }
    if origin.repository:
        parameters["repository"] = origin.repository
    if origin.definition:
        parameters["definition"] = {
            "path": origin.definition,
            "digest": dict([_hex(origin.definition_digest)]) if origin.definition_digest else {},
        }
    return parameters


def _dependencies(commit: str, origin: Origin, sboms: Mapping[str, str]) -> list[dict[str, Any]]:
    """The resolved inputs: the config commit, each repo's repomd.xml, and the SBOMs."""
    dependencies: list[dict[str, Any]] = []
    if origin.repository and commit:
        dependencies.append(
            {"uri": f"git+{origin.repository}@{commit}", "digest": {"gitCommit": commit}}
        )
    for name, (url, digest) in sorted(origin.repos.items()):
        algo, value = _hex(digest)
        dependencies.append(
            {
                "name": f"repo:{name}",
                "uri": url.rstrip("/") + "/repodata/repomd.xml",
                "digest": {algo: value},
            }
        )
    for name, hexdigest in sorted(sboms.items()):
        dependencies.append(
            {
                "name": name,
                "digest": {"sha256": hexdigest},
                "mediaType": "application/spdx+json",
                "annotations": {"lists": "every installed package (NEVRA)"},
            }
        )
    return dependencies


def payload(document: Mapping[str, Any]) -> bytes:
    """The statement's bytes: canonical enough that the same statement gives the same bytes."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what the signature is over."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(body), body)


def envelope(body: bytes, signature: bytes, keyid: str) -> bytes:
    """One DSSE envelope as a JSON Lines file (one line)."""
    document = {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(body).decode(),
        "signatures": [{"keyid": keyid, "sig": base64.b64encode(signature).decode()}],
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode() + b"\n"


@dataclass(frozen=True)
class Envelope:
    body: bytes  # the statement's bytes, as signed
    signatures: tuple[tuple[str, bytes], ...]  # (keyid, signature)

    @property
    def signed_bytes(self) -> bytes:
        return pae(PAYLOAD_TYPE, self.body)

    def statement(self) -> dict[str, Any]:
        try:
            document = json.loads(self.body)
        except ValueError as exc:
            raise ProvenanceError(f"{PROVENANCE}: the statement is not JSON ({exc})") from None
        if not isinstance(document, dict):
            raise ProvenanceError(f"{PROVENANCE}: the statement is not a JSON object")
        return document


def parse_envelope(data: bytes) -> Envelope:
    """The single envelope of a provenance file; anything else is a ProvenanceError."""
    lines = [line for line in data.splitlines() if line.strip()]
    if len(lines) != 1:
        raise ProvenanceError(f"{PROVENANCE}: expected one DSSE envelope, found {len(lines)}")
    try:
        document = json.loads(lines[0])
        if document.get("payloadType") != PAYLOAD_TYPE:
            raise ProvenanceError(
                f"{PROVENANCE}: payloadType is {document.get('payloadType')!r}, not {PAYLOAD_TYPE}"
            )
        body = base64.b64decode(document["payload"], validate=True)
        signatures = tuple(
            (str(s.get("keyid", "")), base64.b64decode(s["sig"], validate=True))
            for s in document["signatures"]
        )
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        if isinstance(exc, ProvenanceError):
            raise
        raise ProvenanceError(f"{PROVENANCE}: not a DSSE envelope ({exc})") from None
    if not signatures:
        raise ProvenanceError(f"{PROVENANCE}: the envelope carries no signature")
    return Envelope(body, signatures)


def subject_problems(document: Mapping[str, Any], sha256: Mapping[str, str]) -> list[str]:
    """Where the statement's subjects disagree with the verified sha256 digests (pure)."""
    problems = []
    if document.get("_type") != STATEMENT_TYPE or document.get("predicateType") != PREDICATE_TYPE:
        problems.append(f"{PROVENANCE}: not an in-toto v1 statement with SLSA v1 provenance")
    subjects = document.get("subject")
    if not isinstance(subjects, list) or not subjects:
        return [*problems, f"{PROVENANCE}: the statement names no subject"]
    for subject in subjects:
        name = subject.get("name") if isinstance(subject, dict) else None
        digest = subject.get("digest", {}).get("sha256") if isinstance(subject, dict) else None
        if not isinstance(name, str) or name not in sha256:
            problems.append(
                f"{PROVENANCE}: subject {name!r} is not a verified file of this release"
            )
        elif digest != sha256[name]:
            problems.append(f"{PROVENANCE}: subject {name} has another sha256 than the release")
    return problems
