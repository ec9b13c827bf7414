"""Hostile checksum files, manifests, channel indexes and signatures, each with its message.

Every case goes through the real parser; only our own error types may come out.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from release.channels.index import check_index, check_snapshot
from release.integrity import checksums
from release.integrity.checksums import ChecksumFileError
from release.integrity.keyring import armor_problem
from release.integrity.manifest import Manifest, ManifestError
from tests.hostile import corpus
from tests.hostile.corpus import ARTIFACT, H256

pytestmark = pytest.mark.chaos

SUM = f"{H256}  {ARTIFACT}\n"
CHECKSUM_CASES: dict[str, tuple[bytes, str]] = {
    "empty": (b"", "is empty"),
    "no final newline": (SUM.encode()[:-1], "does not end with a newline"),
    "BSD tag style mixed in": (
        f"{SUM}SHA256 (other.raw) = {H256}\n".encode(),
        ":2: is not a '<sha256 hex>  <name>' line",
    ),
    "BSD tag style only": (f"SHA256 ({ARTIFACT}) = {H256}\n".encode(), ":1: is not a"),
    "dot-dot name": (f"{H256}  ../x\n".encode(), "climbs out of the release directory"),
    "dot-dot deep": (f"{H256}  a/../../x\n".encode(), "climbs out of the release directory"),
    "absolute name": (f"{H256}  /etc/passwd\n".encode(), "is an absolute path"),
    "subdirectory": (f"{H256}  sub/x.raw\n".encode(), "contains a path separator"),
    "NUL in name": (f"{H256}  x\0.raw\n".encode(), "contains a NUL byte"),
    "CRLF": (f"{H256}  {ARTIFACT}\r\n".encode(), "has a carriage return"),
    "backslash-escaped name": (f"\\{H256}  a\\nb\n".encode(), "escaped name (backslash line)"),
    "duplicate name": ((SUM + SUM).encode(), f"lists {ARTIFACT!r} twice"),
    "hex too short": (f"{H256[:-1]}  {ARTIFACT}\n".encode(), ":1: is not a '<sha256 hex>"),
    "hex too long": (f"{H256}0  {ARTIFACT}\n".encode(), ":1: is not a '<sha256 hex>"),
    "md5 length for sha256": (f"{'c' * 32}  {ARTIFACT}\n".encode(), "is not a '<sha256 hex>"),
    "uppercase hex": (f"{H256.upper()}  {ARTIFACT}\n".encode(), "lowercase hex"),
    "one space": (f"{H256} {ARTIFACT}\n".encode(), "two spaces"),
    "binary marker": (f"{H256} *{ARTIFACT}\n".encode(), "two spaces"),
    "blank line": (f"{SUM}\n".encode(), ":2: is not a"),
    "not UTF-8": (f"{H256}  ".encode() + b"\xff\xfe\n", "is not UTF-8 text"),
    "leading space name": (f"{H256}   {ARTIFACT}\n".encode(), "contains whitespace"),
    "dot name": (f"{H256}  .\n".encode(), "is not a plain file name"),
    "hidden file": (f"{H256}  .ssh\n".encode(), "is not a plain file name"),
    "control char": (f"{H256}  a\x1bb\n".encode(), "contains a control character"),
}


@pytest.mark.parametrize("case", sorted(CHECKSUM_CASES))
def test_hostile_checksum_file(case: str) -> None:
    data, message = CHECKSUM_CASES[case]
    with pytest.raises(ChecksumFileError) as caught:
        checksums.parse(data, "sha256", "sha256sum.txt")
    assert message in str(caught.value)
    assert str(caught.value).startswith("sha256sum.txt")


def _manifest(change: Any) -> bytes:
    document = corpus.manifest()
    change(document)
    return corpus.dumps(document)


def _set(path: tuple[str | int, ...], value: object) -> Any:
    def change(document: dict[str, Any]) -> None:
        node: Any = document
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


MANIFEST_CASES: dict[str, tuple[bytes, str]] = {
    "not JSON": (b"{", "not a valid release manifest: (top): Invalid JSON"),
    "a list": (b"[]", "(top): Input should be an object"),
    "binary": (b"\x89PNG\r\n\x1a\n\0\0", "Invalid JSON"),
    "empty": (b"", "Invalid JSON"),
    "extra field": (_manifest(_set(("evil",), 1)), "evil: Extra inputs are not permitted"),
    "format version 2": (
        _manifest(_set(("format_version",), 2)),
        "format_version: Input should be 1",
    ),
    "size is a string": (
        _manifest(_set(("artifacts", 0, "size"), "big")),
        "artifacts.0.size: Input should be a valid integer",
    ),
    "negative size": (_manifest(_set(("artifacts", 0, "size"), -1)), "greater than or equal to 0"),
    "variants a string": (
        _manifest(_set(("variants",), "base")),
        "variants: Input should be a valid",
    ),
    "no variants": (_manifest(_set(("variants",), [])), "variants: Tuple should have at least 1"),
    "dot-dot artifact": (
        _manifest(_set(("artifacts", 0, "name"), "../x.qcow2")),
        "climbs out of the release directory",
    ),
    "absolute artifact": (
        _manifest(_set(("artifacts", 0, "name"), "/etc/x")),
        "is an absolute path",
    ),
    "digest without prefix": (
        _manifest(_set(("artifacts", 0, "digests", "sha256"), H256)),
        "is not 'sha256:<lowercase hex>'",
    ),
    "digest too short": (
        _manifest(_set(("artifacts", 0, "digests", "sha256"), "sha256:abc")),
        "is not 'sha256:<lowercase hex>'",
    ),
    "digest missing": (
        _manifest(_set(("artifacts", 0, "digests"), {"sha256": f"sha256:{H256}"})),
        "md5 digest is missing",
    ),
    "unknown digest": (
        _manifest(_set(("artifacts", 0, "digests", "crc32"), "crc32:0000")),
        "unknown digest algorithms ['crc32']",
    ),
    "unknown format": (_manifest(_set(("artifacts", 0, "format"), "iso")), "artifacts.0.format"),
    "image name with slash": (_manifest(_set(("image",), "a/b")), "contains a path separator"),
    "version climbs": (_manifest(_set(("version",), "1/../..")), "version '1/../..' must start"),
    "naive build time": (_manifest(_set(("build", "time"), "yesterday")), "build.time"),
    "sbom outside": (_manifest(_set(("sboms",), {"base": "../../etc/passwd"})), "climbs out"),
    "epoch negative": (
        _manifest(
            _set(
                ("packages",),
                {"base": [{"name": "a", "epoch": -1, "version": "1", "release": "1", "arch": "x"}]},
            )
        ),
        "packages.base.0.epoch",
    ),
}


@pytest.mark.parametrize("case", sorted(MANIFEST_CASES))
def test_hostile_manifest(case: str) -> None:
    data, message = MANIFEST_CASES[case]
    with pytest.raises(ManifestError) as caught:
        Manifest.parse(data)
    assert message in str(caught.value)
    assert str(caught.value).startswith("manifest.json: not a valid release manifest")


def test_the_corpus_manifest_itself_is_valid() -> None:
    assert Manifest.parse(corpus.dumps(corpus.manifest())).image == "img"


NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
INDEX_CASES: dict[str, tuple[bytes, str, str]] = {
    "bad JSON": (b'{"serial": ', "invalid", "not a channel index: document: Invalid JSON"),
    "binary": (b"\0\xff" * 100, "invalid", "Invalid JSON"),
    "negative serial": (
        corpus.dumps(corpus.index(serial=-3)),
        "invalid",
        "serial: Input should be greater",
    ),
    "zero serial": (corpus.dumps(corpus.index(serial=0)), "invalid", "serial"),
    "serial a list": (corpus.dumps(corpus.index(serial=[7])), "invalid", "serial"),
    "serial a float": (corpus.dumps(corpus.index(serial=7.5)), "invalid", "serial"),
    "expired": (
        corpus.dumps(corpus.index(expires="2026-11-30T00:00:00Z")),
        "expired",
        "the index expired at 2026-11-30T00:00:00Z",
    ),
    "expires before issued": (
        corpus.dumps(corpus.index(expires="2026-01-01T00:00:00Z")),
        "invalid",
        "expires must be later than issued",
    ),
    "time without zone": (
        corpus.dumps(corpus.index(issued="2026-11-24T00:00:00")),
        "invalid",
        "must carry its time zone",
    ),
    "wrong channel": (corpus.dumps(corpus.index(channel="beta")), "wrong-channel", "not 'stable'"),
    "replayed serial": (
        corpus.dumps(corpus.index(serial=3)),
        "replayed",
        "serial 3 is lower than 5",
    ),
    "absolute release path": (
        corpus.dumps(corpus.index(current={**corpus.index()["current"], "path": "/etc"})),
        "invalid",
        "must be relative to the target's root",
    ),
    "climbing release path": (
        corpus.dumps(corpus.index(current={**corpus.index()["current"], "path": "../../x"})),
        "invalid",
        "current.path",
    ),
    "bad manifest digest": (
        corpus.dumps(corpus.index(current={**corpus.index()["current"], "manifest_sha256": "x"})),
        "invalid",
        "is not a sha256 digest",
    ),
    "extra field": (corpus.dumps(corpus.index(evil=True)), "invalid", "evil: Extra inputs"),
    "spec version 2": (corpus.dumps(corpus.index(spec_version=2)), "invalid", "spec_version"),
    "huge history": (
        corpus.dumps(corpus.index(history=[corpus.index()["current"]] * 40_000)),
        "invalid",
        "is larger than",
    ),
    "huge padding": (b" " * (8 << 20) + corpus.dumps(corpus.index()), "invalid", "is larger than"),
}


@pytest.mark.parametrize("case", sorted(INDEX_CASES))
def test_hostile_channel_index(case: str) -> None:
    data, status, message = INDEX_CASES[case]
    result = check_index(data, NOW, 5, channel="stable")
    assert (result.status, message in result.message) == (status, True), result.message
    assert not result.ok


def test_a_huge_snapshot_is_refused() -> None:
    result = check_snapshot(b"{" + b" " * (2 << 20) + b"}", {})
    assert not result.ok
    assert "snapshot: 2097154 bytes is larger than" in result.message


def test_the_corpus_index_itself_is_valid() -> None:
    assert check_index(corpus.dumps(corpus.index()), NOW, 5, channel="stable").ok


def test_a_bad_signature_is_refused_before_the_index_is_read() -> None:
    def verify(_data: bytes, signature: bytes) -> str | None:
        return "F" * 40 if signature == b"good" else None

    result = check_index(b"garbage", NOW, None, signature=b"bad", verify=verify)
    assert (result.status, result.message) == ("bad-signature", "the signature does not verify")
    result = check_index(b"garbage", NOW, None, signature=b"good", verify=verify, allowed={"A"})
    assert result.status == "bad-signature"
    assert "which is not allowed to sign it" in result.message


BEGIN, END = "-----BEGIN PGP SIGNATURE-----", "-----END PGP SIGNATURE-----"
ARMOR = f"{BEGIN}\n\niQEzBAABCAAdFiEE\n=abcd\n{END}\n"
SIGNATURE_CASES: dict[str, tuple[bytes, str]] = {
    "empty": (b"", "is empty"),
    "whitespace": (b" \n\n", "is empty"),
    "a group separator only (found by atheris)": (b"\x1d", "is empty"),
    "garbage": (b"hello world\n", "does not start with '-----BEGIN PGP SIGNATURE-----'"),
    "binary": (b"\x89\x01\x33\x04\x00\x01\x08\x00\x1d\xff", "binary or garbage"),
    "binary OpenPGP packet": (bytes([0x88, 0x5E, 0x04, 0x00]) + b"\x00" * 90, "binary or garbage"),
    "two signatures, second appended": (
        (ARMOR + ARMOR).encode(),
        "more than one armor block",
    ),
    "text after the end": ((ARMOR + "evil  x\n").encode(), "has text after"),
    "huge": (BEGIN.encode() + b"\nA" * (70 << 10), "is larger than"),
    "no end line": (f"{BEGIN}\n\nabc\n".encode(), "more than one armor block"),
    "a message, not a signature": (
        b"-----BEGIN PGP MESSAGE-----\n\nabc\n-----END PGP MESSAGE-----\n",
        "does not start with",
    ),
}


@pytest.mark.parametrize("case", sorted(SIGNATURE_CASES))
def test_hostile_signature(case: str) -> None:
    data, message = SIGNATURE_CASES[case]
    problem = armor_problem(data)
    assert problem is not None and message in problem, problem


def test_one_armored_signature_is_accepted_for_gpg_to_judge() -> None:
    assert armor_problem(ARMOR.encode()) is None
