"""Everything `release verify` must refuse; each case asserts the message the user sees."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from release.integrity.keysource import load_key_source
from release.integrity.releasedir import SIGNED_FILES, seal
from release.integrity.signing import SigningConfig, open_signer
from release.integrity.verify import VerifyResult, verify_release
from tests.integrity.conftest import IMAGE, VERSION, release_info
from tests.integrity.gpgkit import Keys, armor_signature

QCOW2 = f"{IMAGE}-{VERSION}-openstack.qcow2"


def verify(release_dir: Path, keys_dir: Path, channel: str | None = None) -> VerifyResult:
    return verify_release(str(release_dir), load_key_source(keys_dir), channel=channel)


def failures(result: VerifyResult) -> str:
    assert not result.ok
    return "\n".join(result.failures())


def test_tampered_artifact(release_dir: Path, keys_dir: Path) -> None:
    path = release_dir / QCOW2
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF  # same size, different bytes
    path.write_bytes(bytes(data))
    result = verify(release_dir, keys_dir)
    text = failures(result)
    assert f"{QCOW2}: sha256 mismatch: the file is not what was signed" in text
    bad = next(f for f in result.files if f.name == QCOW2)
    assert bad.passed == [f"size {len(data)}"]
    assert all(f.ok for f in result.files if f.name != QCOW2)


def test_line_appended_to_checksum_file(release_dir: Path, keys_dir: Path) -> None:
    with (release_dir / "sha256sum.txt").open("a") as out:
        out.write(f"{'0' * 64}  evil.qcow2\n")
    text = failures(verify(release_dir, keys_dir))
    assert "sha256sum.txt.asc: BAD signature by good: the file was changed" in text
    assert "evil.qcow2" not in text  # nothing from the unsigned bytes is believed


def test_text_appended_after_signature_block(release_dir: Path, keys_dir: Path) -> None:
    with (release_dir / "sha256sum.txt.asc").open("a") as out:
        out.write(f"{'0' * 64}  evil.qcow2\n")
    text = failures(verify(release_dir, keys_dir))
    assert "sha256sum.txt.asc has text after '-----END PGP SIGNATURE-----'" in text


def test_signature_by_key_not_in_keys(release_dir: Path, keys_dir: Path, keys: Keys) -> None:
    keys.sign_release_file(release_dir, "sha256sum.txt", signer="stranger")
    text = failures(verify(release_dir, keys_dir))
    key_id = keys.fpr["stranger"][-16:]
    assert f"sha256sum.txt.asc: signed by key ID {key_id}, which is not among" in text
    assert "(unknown signer)" in text


def test_key_not_allowed_for_channel(release_dir: Path, keys_dir: Path, keys: Keys) -> None:
    config = SigningConfig(gnupghome=keys.home, fingerprint=keys.fpr["el6"])
    with open_signer(config) as signer:
        resealed = seal(release_dir, release_info(), signer)
    assert set(resealed.signed) == {f"{name}.asc" for name in SIGNED_FILES}
    assert verify(release_dir, keys_dir, channel="el6-cloud").ok
    text = failures(verify(release_dir, keys_dir, channel="el7-cloud"))
    assert (
        f"manifest.json.asc: signed by el6 ({keys.fpr['el6']}), which trust.yaml does"
        " not allow for channel 'el7-cloud'"
    ) in text


def test_expired_key(release_dir: Path, keys_dir: Path, keys: Keys) -> None:
    keys.sign_release_file(release_dir, "sha256sum.txt", signer="expired")
    text = failures(verify(release_dir, keys_dir))
    assert "sha256sum.txt.asc: signed by expired, whose key has expired" in text


def test_revoked_key(release_dir: Path, keys_dir: Path, keys: Keys) -> None:
    keys.sign_release_file(release_dir, "manifest.json", signer="revoked")
    text = failures(verify(release_dir, keys_dir))
    assert "manifest.json.asc: signed by revoked, whose key has been revoked" in text


def test_two_signatures_one_bad(release_dir: Path, keys_dir: Path, keys: Keys) -> None:
    data = (release_dir / "sha256sum.txt").read_bytes()
    good = _dearmor(keys, keys.sign("good", data))
    bad = _dearmor(keys, keys.sign("el6", data + b"other bytes\n"))
    (release_dir / "sha256sum.txt.asc").write_bytes(armor_signature(good + bad))
    result = verify(release_dir, keys_dir)
    check = next(s for s in result.signatures if s.file == "sha256sum.txt")
    assert [s.ok for s in check.signatures] == [True, False]
    assert "sha256sum.txt.asc: BAD signature by el6" in failures(result)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "sha256sum.txt.asc is empty"),
        (b"\n  \n", "sha256sum.txt.asc is empty"),
        (b"garbage\n", "sha256sum.txt.asc does not start with '-----BEGIN PGP SIGNATURE-----'"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "sha256sum.txt.asc is not an ASCII-armored signature"),
        (
            b"-----BEGIN PGP SIGNATURE-----\n\nbm90IGEgc2lnbmF0dXJl\n-----END PGP SIGNATURE-----\n",
            "sha256sum.txt.asc holds no signature gpg can read",
        ),
    ],
)
def test_empty_or_garbage_signature(
    release_dir: Path, keys_dir: Path, content: bytes, message: str
) -> None:
    (release_dir / "sha256sum.txt.asc").write_bytes(content)
    assert message in failures(verify(release_dir, keys_dir))


def test_missing_signature(release_dir: Path, keys_dir: Path) -> None:
    (release_dir / "sha1sum.txt.asc").unlink()
    assert "sha1sum.txt.asc is missing: a release must carry it" in failures(
        verify(release_dir, keys_dir)
    )


def test_truncated_artifact(release_dir: Path, keys_dir: Path) -> None:
    path = release_dir / QCOW2
    path.write_bytes(path.read_bytes()[:1000])
    text = failures(verify(release_dir, keys_dir))
    assert f"{QCOW2}: size 1000 bytes, signed size 300000 (truncated)" in text


def test_grown_artifact(release_dir: Path, keys_dir: Path) -> None:
    with (release_dir / QCOW2).open("ab") as out:
        out.write(b"x")
    text = failures(verify(release_dir, keys_dir))
    assert f"{QCOW2}: size 300001 bytes, signed size 300000 (longer than signed)" in text


def test_missing_artifact(release_dir: Path, keys_dir: Path) -> None:
    (release_dir / QCOW2).unlink()
    assert f"{QCOW2}: missing" in failures(verify(release_dir, keys_dir))


def test_artifact_symlink(release_dir: Path, keys_dir: Path, tmp_path: Path) -> None:
    real = tmp_path / "elsewhere.qcow2"
    (release_dir / QCOW2).rename(real)
    (release_dir / QCOW2).symlink_to(real)
    assert f"{QCOW2}: refused: it is a symlink" in failures(verify(release_dir, keys_dir))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../x", "name '../x' climbs out of the release directory"),
        ("/etc/shadow", "name '/etc/shadow' is an absolute path"),
        ("a\0b", "name 'a\\x00b' contains a NUL byte"),
        ("sub/x", "name 'sub/x' is not a plain file name: it contains a path separator"),
    ],
)
def test_bad_name_in_checksum_file(
    release_dir: Path, keys_dir: Path, keys: Keys, name: str, message: str
) -> None:
    with (release_dir / "sha256sum.txt").open("a") as out:
        out.write(f"{'0' * 64}  {name}\n")
    keys.sign_release_file(release_dir, "sha256sum.txt")  # a trusted key signed it: still refused
    line = len((release_dir / "sha256sum.txt").read_bytes().split(b"\n")) - 1
    assert f"sha256sum.txt:{line}: {message}" in failures(verify(release_dir, keys_dir))


def test_escaped_line_in_checksum_file(release_dir: Path, keys_dir: Path, keys: Keys) -> None:
    with (release_dir / "sha256sum.txt").open("a") as out:
        out.write(f"\\{'0' * 64}  a\\nb\n")
    keys.sign_release_file(release_dir, "sha256sum.txt")
    line = len((release_dir / "sha256sum.txt").read_bytes().split(b"\n")) - 1
    text = failures(verify(release_dir, keys_dir))
    assert f"sha256sum.txt:{line}: escaped name (backslash line) is not allowed" in text


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../x", "name '../x' climbs out of the release directory"),
        ("/tmp/x", "name '/tmp/x' is an absolute path"),
        ("a\nb", "name 'a\\nb' contains a newline"),
        ("a\0b", "name 'a\\x00b' contains a NUL byte"),
    ],
)
def test_bad_name_in_manifest(
    release_dir: Path, keys_dir: Path, keys: Keys, name: str, message: str
) -> None:
    manifest = json.loads((release_dir / "manifest.json").read_text())
    manifest["files"][0]["name"] = name
    (release_dir / "manifest.json").write_text(json.dumps(manifest))
    keys.sign_release_file(release_dir, "manifest.json")
    text = failures(verify(release_dir, keys_dir))
    assert "manifest.json: not a valid release manifest: files.0.name" in text
    assert message in text


def test_manifest_disagrees_with_checksum_files(
    release_dir: Path, keys_dir: Path, keys: Keys
) -> None:
    manifest = json.loads((release_dir / "manifest.json").read_text())
    qcow2 = next(a for a in manifest["artifacts"] if a["name"] == QCOW2)
    qcow2["digests"]["sha256"] = "sha256:" + "0" * 64
    (release_dir / "manifest.json").write_text(json.dumps(manifest))
    keys.sign_release_file(release_dir, "manifest.json")
    text = failures(verify(release_dir, keys_dir))
    assert f"manifest.json and sha256sum.txt disagree on the sha256 of {QCOW2}" in text


def _dearmor(keys: Keys, armored: bytes) -> bytes:
    proc = subprocess.run(
        ["gpg", "--homedir", str(keys.home), "--batch", "--dearmor"],
        input=armored,
        capture_output=True,
        check=True,
    )
    return proc.stdout


def test_artifact_that_is_not_a_regular_file(release_dir: Path, keys_dir: Path) -> None:
    (release_dir / QCOW2).unlink()
    (release_dir / QCOW2).mkdir()
    assert f"{QCOW2}: refused: not a regular file" in failures(verify(release_dir, keys_dir))


def test_unsigned_file_listed_nowhere_is_not_trusted(release_dir: Path, keys_dir: Path) -> None:
    # A file dropped beside a release is not part of it: verify checks what was signed only.
    (release_dir / "extra.qcow2").write_bytes(b"x")
    result = verify_release(str(release_dir), load_key_source(keys_dir), files=["extra.qcow2"])
    assert "extra.qcow2 is not listed in the signed checksum files" in failures(result)


def test_old_release_served_under_a_new_name(release_dir: Path, keys_dir: Path) -> None:
    """Every signature is valid, but the release is not the one its location promises."""
    replayed = release_dir.parent / "20261231.1"
    release_dir.rename(replayed)
    text = failures(verify(replayed, keys_dir))
    assert (
        f"should hold {IMAGE} 20261231.1, but its signed manifest is {IMAGE} {VERSION}"
        " (an older release served under a newer name?)"
    ) in text


def test_artifact_not_named_for_its_release(release_dir: Path, keys_dir: Path, keys: Keys) -> None:
    manifest = json.loads((release_dir / "manifest.json").read_text())
    manifest["version"] = "20200101.1"
    (release_dir / "manifest.json").write_text(json.dumps(manifest))
    keys.sign_release_file(release_dir, "manifest.json")
    text = failures(verify(release_dir, keys_dir))
    assert (
        f"manifest.json: artifact {QCOW2} should be named {IMAGE}-20200101.1-openstack.qcow2"
        in (text)
    )
