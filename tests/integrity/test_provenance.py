"""The signed provenance of a release, read by independent implementations and tampered with.

The statement is parsed by the in-toto attestation bindings (protobuf, unknown fields refused)
and the envelope's pre-authentication encoding comes from securesystemslib's DSSE code; gpg
checks the signature over it. Expectations are written here, not derived from our code.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from securesystemslib.dsse import Envelope

from release.integrity.keysource import load_key_source
from release.integrity.manifest import Manifest
from release.integrity.provenance_check import statement_problems
from release.integrity.releasedir import seal
from release.integrity.signing import SigningConfig, open_signer
from release.integrity.verify import verify_release
from tests.integrity.conftest import IMAGE, VERSION, release_info, write_inputs
from tests.integrity.gpgkit import Keys, destroy_home, gpg, new_home
from tests.integrity.test_cli import release

PROVENANCE = "provenance.intoto.jsonl"
COMMIT = "0123456789abcdef0123456789abcdef01234567"  # release_info()'s commit


def envelope_of(release_dir: Path) -> dict[str, Any]:
    lines = (release_dir / PROVENANCE).read_bytes().splitlines()
    assert len(lines) == 1
    document: dict[str, Any] = json.loads(lines[0])
    return document


def statement_of(release_dir: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(base64.b64decode(envelope_of(release_dir)["payload"]))
    return document


def sha256_listing(release_dir: Path) -> dict[str, str]:
    """sha256sum.txt as `sha256sum -c` reads it: '<hex>  <name>' per line."""
    listing = {}
    for line in (release_dir / "sha256sum.txt").read_text().splitlines():
        hexdigest, name = line.split("  ", 1)
        listing[name] = hexdigest
    return listing


def test_the_in_toto_bindings_accept_the_statement(release_dir: Path) -> None:
    document = statement_of(release_dir)
    proto = json_format.ParseDict(document, statement_pb2.Statement())  # unknown fields: error
    Statement.copy_from_pb(proto).validate()
    assert proto.type == "https://in-toto.io/Statement/v1"
    assert proto.predicate_type == "https://slsa.dev/provenance/v1"
    predicate = json_format.ParseDict(document["predicate"], provenance_pb2.Provenance())
    definition = predicate.build_definition
    assert definition.external_parameters["commit"] == COMMIT
    assert definition.external_parameters["image"] == IMAGE
    assert definition.external_parameters["version"] == VERSION
    assert list(definition.external_parameters["variants"]) == ["openstack", "gce"]
    assert predicate.run_details.builder.id
    assert predicate.run_details.metadata.finished_on.ToJsonString() == "2026-11-24T12:00:00Z"
    sboms = {d.name for d in definition.resolved_dependencies}
    assert sboms == {f"{IMAGE}-{VERSION}-{v}.spdx.json" for v in ("openstack", "gce")}


def test_subjects_are_every_built_file_with_the_sha256_of_sha256sum_txt(
    release_dir: Path,
) -> None:
    listing = sha256_listing(release_dir)
    subjects = {s["name"]: s["digest"]["sha256"] for s in statement_of(release_dir)["subject"]}
    built = {
        f"{IMAGE}-{VERSION}-openstack.qcow2",
        f"{IMAGE}-{VERSION}-gce.tar.gz",
        *(
            f"{IMAGE}-{VERSION}-{v}.{kind}"
            for v in ("openstack", "gce")
            for kind in ("packages", "spdx.json")
        ),
    }
    assert set(subjects) == built
    assert all(listing[name] == digest for name, digest in subjects.items())
    # The provenance file itself is sealed like any other file.
    assert PROVENANCE in listing
    manifest = json.loads((release_dir / "manifest.json").read_bytes())
    assert PROVENANCE in {f["name"] for f in manifest["files"]}


def test_gpg_verifies_the_envelope_over_dsse_pae(release_dir: Path, keys: Keys) -> None:
    document = envelope_of(release_dir)
    envelope = Envelope.from_dict(copy.deepcopy(document))
    assert envelope.payload_type == "application/vnd.in-toto+json"
    home = new_home()
    try:
        gpg(home, "--import", input=keys.public["good"])
        (home / "pae").write_bytes(envelope.pae())
        (home / "sig").write_bytes(base64.b64decode(document["signatures"][0]["sig"]))
        proc = subprocess.run(
            ["gpg", "--homedir", str(home), "--batch", "--status-fd", "1", "--verify",
             str(home / "sig"), str(home / "pae")],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    finally:
        destroy_home(home)
    assert proc.returncode == 0, proc.stderr
    assert f"VALIDSIG {keys.fpr['good']}" in proc.stdout
    assert document["signatures"][0]["keyid"] == keys.fpr["good"]


def test_verify_provenance_prints_the_verified_statement(release_dir: Path, keys_dir: Path) -> None:
    proc = release("verify", release_dir, "--keys", keys_dir, "--provenance")
    assert proc.returncode == 0, proc.stderr
    assert "ok    provenance.intoto.jsonl.asc  good signature by good" in proc.stdout
    printed = proc.stdout.split("provenance (in-toto statement, verified):\n", 1)[1]
    assert json.loads(printed) == statement_of(release_dir)


def _reencode(release_dir: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Edit the statement and put it back in the envelope, keeping the old signature."""
    document = envelope_of(release_dir)
    statement = statement_of(release_dir)
    change(statement)
    document["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    (release_dir / PROVENANCE).write_bytes(json.dumps(document).encode() + b"\n")


TAMPERING: dict[str, Callable[[dict[str, Any]], None]] = {
    "a subject's digest": lambda s: s["subject"][0]["digest"].update(sha256="0" * 64),
    "the commit": lambda s: s["predicate"]["buildDefinition"]["externalParameters"].update(
        commit="f" * 40
    ),
    "the builder": lambda s: s["predicate"]["runDetails"]["builder"].update(id="host:evil"),
    "a subject dropped": lambda s: s["subject"].pop(),
    "the repos": lambda s: s["predicate"]["buildDefinition"]["resolvedDependencies"].clear(),
}


@pytest.mark.parametrize("what", sorted(TAMPERING))
def test_any_tampered_field_is_exit_3(release_dir: Path, keys_dir: Path, what: str) -> None:
    _reencode(release_dir, TAMPERING[what])
    proc = release("verify", release_dir, "--keys", keys_dir, "--json")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    # The envelope's own signature refuses it, not only the sealed sha256 of the file.
    envelope_check = next(s for s in report["signatures"] if s["file"] == PROVENANCE)
    assert not envelope_check["ok"]
    assert report["provenance"] is None


def test_a_signed_statement_that_disagrees_with_the_release_is_refused(release_dir: Path) -> None:
    manifest = Manifest.parse((release_dir / "manifest.json").read_bytes())
    listing = sha256_listing(release_dir)
    good = statement_of(release_dir)
    assert statement_problems(good, manifest, listing) == []
    for what, change in TAMPERING.items():
        if what in ("the builder", "the repos"):
            continue  # facts the manifest does not state: only the signature vouches for them
        statement = statement_of(release_dir)
        change(statement)
        assert statement_problems(statement, manifest, listing), what


def test_a_statement_signed_by_an_untrusted_key_is_refused(
    release_dir: Path, keys_dir: Path, keys: Keys
) -> None:
    document = envelope_of(release_dir)
    envelope = Envelope.from_dict(copy.deepcopy(document))
    signature = keys.sign("stranger", envelope.pae())
    document["signatures"] = [
        {"keyid": keys.fpr["stranger"], "sig": base64.b64encode(signature).decode()}
    ]
    (release_dir / PROVENANCE).write_bytes(json.dumps(document).encode() + b"\n")
    result = verify_release(str(release_dir), load_key_source(keys_dir))
    assert not result.ok
    assert result.provenance is None
    assert any("provenance.intoto.jsonl.asc" in p for p in result.failures())


def test_a_release_sealed_before_provenance_verifies_but_not_with_the_flag(
    release_dir: Path, keys_dir: Path, keys: Keys
) -> None:
    _strip_provenance(release_dir, keys)
    assert verify_release(str(release_dir), load_key_source(keys_dir)).ok
    proc = release("verify", release_dir, "--keys", keys_dir, "--provenance")
    assert proc.returncode == 3
    assert "provenance.intoto.jsonl is not part of this release" in proc.stdout


def _strip_provenance(release_dir: Path, keys: Keys) -> None:
    """Make the release an older one: no provenance in the directory, manifest or sums."""
    (release_dir / PROVENANCE).unlink()
    manifest = json.loads((release_dir / "manifest.json").read_bytes())
    manifest["files"] = [f for f in manifest["files"] if f["name"] != PROVENANCE]
    (release_dir / "manifest.json").write_bytes(json.dumps(manifest).encode())
    keys.sign_release_file(release_dir, "manifest.json")
    for algo in ("md5", "sha1", "sha256"):
        lines = []
        for line in (release_dir / f"{algo}sum.txt").read_text().splitlines():
            name = line.split("  ", 1)[1]
            if name == PROVENANCE:
                continue
            if name.startswith("manifest.json"):
                line = f"{hashlib.new(algo, (release_dir / name).read_bytes()).hexdigest()}  {name}"
            lines.append(line)
        (release_dir / f"{algo}sum.txt").write_text("\n".join(lines) + "\n")
        keys.sign_release_file(release_dir, f"{algo}sum.txt")


def test_reseal_keeps_the_envelope(tmp_path: Path, keys: Keys) -> None:
    directory = tmp_path / IMAGE / VERSION
    write_inputs(directory)
    config = SigningConfig(gnupghome=keys.home, fingerprint=keys.fpr["good"])
    with open_signer(config) as signer:
        seal(directory, release_info(), signer)
        before = (directory / PROVENANCE).read_bytes()
        result = seal(directory, release_info(), signer)
    assert PROVENANCE not in result.written
    assert (directory / PROVENANCE).read_bytes() == before


def test_the_stock_recipe_in_docs_verifies_the_provenance(
    release_dir: Path, keys: Keys, tmp_path: Path
) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "provenance.md").read_text()
    recipe = doc.split("```sh\n", 1)[1].split("```", 1)[0]
    home = new_home()
    try:
        gpg(home, "--import", input=keys.public["good"])
        good = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", recipe], cwd=release_dir, capture_output=True,
            text=True, env={"GNUPGHOME": str(home), "PATH": "/usr/bin:/bin"}, check=False,
        )  # fmt: skip
        _reencode(release_dir, TAMPERING["the commit"])
        bad = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", recipe], cwd=release_dir, capture_output=True,
            text=True, env={"GNUPGHOME": str(home), "PATH": "/usr/bin:/bin"}, check=False,
        )  # fmt: skip
    finally:
        destroy_home(home)
    assert good.returncode == 0, good.stderr
    assert "Good signature" in good.stderr
    assert f"{IMAGE}-{VERSION}-openstack.qcow2: OK" in good.stdout
    assert bad.returncode != 0
    assert "BAD signature" in bad.stderr
