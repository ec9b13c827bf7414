"""`build()`: outputs, the cache, and every kind of bad input failing clearly with nothing
half-written where the finished image would be."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from release.errors import (
    ExitCode,
    InvalidInput,
    OperationError,
    ReleaseError,
    ToolMissing,
    VerificationError,
)
from release.imaging import builder, cache, installroot, kickstart
from release.imaging.builder import build
from release.integrity import keyinfo
from tests.imaging.conftest import ImageFactory, SignedRepo


def leftovers(tmp_path: Path) -> list[Path]:
    """Files in out/ and the cache's builds/ and tmp/ (a failed build must leave none)."""
    found: list[Path] = []
    for folder in (tmp_path / "out", tmp_path / "cache" / "builds", tmp_path / "cache" / "tmp"):
        if folder.is_dir():
            found += list(folder.iterdir())
    return found


def test_build_writes_disk_and_manifests(make_image: ImageFactory, tmp_path: Path) -> None:
    result = build(make_image(6), "aws", tmp_path / "out", tmp_path / "cache")
    assert not result.cached
    assert result.raw_path.name == "fixture-el6-1.0.0-aws.raw"
    assert result.raw_path.stat().st_size == 64 << 20
    lines = result.manifest_path.read_text().splitlines()
    assert lines == sorted(lines)
    assert "filesystem 0 1.0 1.el6 x86_64" in lines
    assert "ntp 0 1.0 1.el6 x86_64" in lines  # the template's EL6 NTP package
    assert "chrony" not in result.manifest_path.read_text()
    assert '"name": "dracut-modules-growroot"' in result.manifest_json_path.read_text()
    assert result.rpmdb_backend == "bdb"  # what EL6's rpm reads, on any host
    assert set(result.tools) >= {"dnf", "rpm", "mkfs.ext4"}
    assert (
        leftovers(tmp_path)
        == [
            *sorted((tmp_path / "out").iterdir()),
            tmp_path / "cache" / "builds" / result.build_id,
        ]
        or len(leftovers(tmp_path)) == 4
    )  # 3 outputs + the cache entry, no temp dir


def test_an_unchanged_definition_is_not_rebuilt(make_image: ImageFactory, tmp_path: Path) -> None:
    image = make_image(7)
    first = build(image, "gce", tmp_path / "out", tmp_path / "cache")
    again = build(image, "gce", tmp_path / "out2", tmp_path / "cache")
    assert again.cached and again.build_id == first.build_id
    assert again.raw_path.read_bytes() == first.raw_path.read_bytes()
    changed = build(
        make_image(7, template={"hostname": "other"}), "gce", tmp_path / "o3", tmp_path / "cache"
    )
    assert not changed.cached and changed.build_id != first.build_id


def test_the_build_id_covers_repo_content_and_tools(make_image: ImageFactory) -> None:
    image = make_image(7)
    inputs = cache.variant_inputs(image, "aws")
    base = cache.build_id(inputs, {"local": "sha256:1"}, {"dnf": "4.14"}, 1)
    assert base == cache.build_id(inputs, {"local": "sha256:1"}, {"dnf": "4.14"}, 1)
    assert base != cache.build_id(inputs, {"local": "sha256:2"}, {"dnf": "4.14"}, 1)
    assert base != cache.build_id(inputs, {"local": "sha256:1"}, {"dnf": "4.15"}, 1)
    assert base != cache.build_id(inputs, {"local": "sha256:1"}, {"dnf": "4.14"}, 2)
    other = cache.variant_inputs(image, "gce")
    assert base != cache.build_id(other, {"local": "sha256:1"}, {"dnf": "4.14"}, 1)


def test_unknown_package(make_image: ImageFactory, tmp_path: Path) -> None:
    image = make_image(7, packages=["filesystem", "no-such-package"])
    with pytest.raises(InvalidInput, match=r"no repo has the package.*no-such-package") as caught:
        build(image, "aws", tmp_path / "out", tmp_path / "cache")
    assert caught.value.exit_code == ExitCode.INVALID
    assert leftovers(tmp_path) == []


def test_unreachable_repo(make_image: ImageFactory, tmp_path: Path) -> None:
    sources = [{"name": "gone", "baseurl": "http://127.0.0.1:9/repo/", "gpgcheck": False}]
    with pytest.raises(OperationError, match=r"repo 'gone' is unreachable.*check its baseurl"):
        build(make_image(7, sources=sources), "aws", tmp_path / "out", tmp_path / "cache")
    assert leftovers(tmp_path) == []


def test_broken_repo(make_image: ImageFactory, tmp_path: Path) -> None:
    repo = tmp_path / "broken"
    (repo / "repodata").mkdir(parents=True)
    (repo / "repodata" / "repomd.xml").write_text("<not-a-repomd")
    sources = [{"name": "broken", "baseurl": f"file://{repo}", "gpgcheck": False}]
    with pytest.raises(OperationError, match="repo 'broken' is unreachable or broken"):
        build(make_image(7, sources=sources), "aws", tmp_path / "out", tmp_path / "cache")
    assert leftovers(tmp_path) == []


def test_signed_packages_with_the_pinned_key_build(
    make_image: ImageFactory, signed_repo: SignedRepo, tmp_path: Path
) -> None:
    source = {
        "name": "signed",
        "baseurl": f"file://{signed_repo.repo}",
        "gpgkey": f"file://{signed_repo.key}",
        "gpgkey_fingerprint": signed_repo.fingerprint,
    }
    result = build(make_image(7, sources=[source]), "aws", tmp_path / "out", tmp_path / "cache")
    names = [line.split()[0] for line in result.manifest_path.read_text().splitlines()]
    assert "gpg-pubkey" in names and "filesystem" in names  # dnf imported the checked key


@pytest.mark.parametrize("signed", [True, False], ids=["other-key", "unsigned"])
def test_packages_failing_their_signature_check(
    make_image: ImageFactory,
    el_repos: dict[int, Path],
    signed_repo: SignedRepo,
    tmp_path: Path,
    signed: bool,
) -> None:
    key = _throwaway_public_key(tmp_path / "key.asc")  # not the key that signed them
    info = keyinfo.read_key_bytes(key.read_bytes())
    assert info
    repo = signed_repo.repo if signed else el_repos[7]
    source = {
        "name": "repo",
        "baseurl": f"file://{repo}",
        "gpgkey": f"file://{key}",
        "gpgkey_fingerprint": info[0].fingerprint,
    }
    with pytest.raises(OperationError, match="failed their signature check") as caught:
        build(make_image(7, sources=[source]), "aws", tmp_path / "out", tmp_path / "cache")
    assert ("is not signed" in str(caught.value)) == (not signed)
    assert leftovers(tmp_path) == []


def test_a_gpgkey_that_is_not_the_pinned_one(
    make_image: ImageFactory, el_repos: dict[int, Path], tmp_path: Path
) -> None:
    key = _throwaway_public_key(tmp_path / "key.asc")
    source = {
        "name": "signed",
        "baseurl": f"file://{el_repos[7]}",
        "gpgkey": f"file://{key}",
        "gpgkey_fingerprint": "6341 AB27 53D7 8A78 A7C2  7BB1 24C6 A8A7 F4A8 0EB5",
    }
    with pytest.raises(VerificationError, match="not the pinned 6341AB27") as caught:
        build(make_image(7, sources=[source]), "aws", tmp_path / "out", tmp_path / "cache")
    assert caught.value.exit_code == ExitCode.VERIFY
    assert leftovers(tmp_path) == []


def test_a_variant_that_contradicts_its_template(make_image: ImageFactory, tmp_path: Path) -> None:
    image = make_image(7, variants={"aws": {"template": {"swap": True}}})
    with pytest.raises(InvalidInput, match="variant aws: the template contradicts itself: swap"):
        build(image, "aws", tmp_path / "out", tmp_path / "cache")
    assert leftovers(tmp_path) == []


def test_a_tree_larger_than_the_disk(make_image: ImageFactory, tmp_path: Path) -> None:
    image = make_image(7, packages=["filesystem", "busybox", "policycoreutils", "bigfile"])
    with pytest.raises(InvalidInput, match=r"needs about 8\d MiB.*raise disk.size"):
        build(image, "aws", tmp_path / "out", tmp_path / "cache")
    assert leftovers(tmp_path) == []


def test_no_dnf_on_the_host(
    make_image: ImageFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("rpm", "sfdisk", "mkfs.ext4", "e2fsck", "debugfs", "grub-mkimage"):
        found = subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip()
        (bin_dir / tool).symlink_to(found)
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(
        ToolMissing, match="dnf is not installed: install it with 'apt-get install dnf'"
    ):
        build(make_image(7), "aws", tmp_path / "out", tmp_path / "cache")
    assert leftovers(tmp_path) == []


def test_not_root_and_no_user_namespaces() -> None:
    assert installroot.privilege_wrap(0, False) == []
    assert installroot.privilege_wrap(1000, True) == ["unshare", "-r"]
    with pytest.raises(OperationError, match="needs root, or user namespaces") as caught:
        installroot.privilege_wrap(1000, False)
    assert caught.value.exit_code == ExitCode.FAILED


def test_relabel_at_build_time_needs_real_root() -> None:
    installroot.check_relabel(0, True)
    installroot.check_relabel(1000, False)
    with pytest.raises(OperationError, match=r"needs real root.*relabel: first-boot"):
        installroot.check_relabel(1000, True)


def test_unknown_variant(make_image: ImageFactory, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no variant 'azure'"):
        build(make_image(7), "azure", tmp_path / "out", tmp_path / "cache")


def test_root_uuid_is_derived_from_the_build_id() -> None:
    assert builder.root_uuid("a" * 64) == builder.root_uuid("a" * 64)
    assert builder.root_uuid("a" * 64) != builder.root_uuid("b" * 64)


def test_errors_are_release_errors() -> None:
    assert issubclass(ToolMissing, ReleaseError)


def _throwaway_public_key(out: Path) -> Path:
    home = tempfile.mkdtemp(dir="/tmp")
    env = {**os.environ, "GNUPGHOME": home}
    try:
        subprocess.run(
            [
                "gpg",
                "--batch",
                "--passphrase",
                "",
                "--quick-gen-key",
                "Fixture <f@example.invalid>",
                "ed25519",
                "sign",
                "never",
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        exported = subprocess.run(
            ["gpg", "--batch", "--armor", "--export"], env=env, check=True, capture_output=True
        ).stdout
        out.write_bytes(exported)
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], check=False)
        subprocess.run(["rm", "-rf", home], check=False)
    return out


def test_a_built_image_checks_clean_and_its_partition_grows(
    make_image: ImageFactory, tmp_path: Path
) -> None:
    result = build(make_image(6), "openstack", tmp_path / "out", tmp_path / "cache")
    spec = f"{result.raw_path}?offset={1 << 20}"
    subprocess.run(["e2fsck", "-fn", spec], check=True, capture_output=True)
    grown = tmp_path / "grown.raw"
    subprocess.run(["cp", "--sparse=always", str(result.raw_path), str(grown)], check=True)
    subprocess.run(["qemu-img", "resize", "-f", "raw", str(grown), "1G"], check=True)
    subprocess.run(["growpart", str(grown), "1"], check=True, capture_output=True)
    table = json.loads(
        subprocess.run(["sfdisk", "-J", str(grown)], check=True, capture_output=True).stdout
    )
    part = table["partitiontable"]["partitions"][0]
    assert part["start"] == 2048 and part["size"] > (1 << 30) // 512 - 4096
    subprocess.run(["e2fsck", "-fn", f"{grown}?offset={1 << 20}"], check=True, capture_output=True)


def test_swap_needs_the_kickstart_builder(make_image: ImageFactory, tmp_path: Path) -> None:
    template = {"growroot": False, "swap": True}
    image = make_image(7, template=template)
    with pytest.raises(InvalidInput, match="swap: true is not supported by the installroot"):
        build(image, "aws", tmp_path / "out", tmp_path / "cache")
    assert leftovers(tmp_path) == []
    ks = kickstart.render_valid(make_image(7, template=template, builder="kickstart"), "aws")
    assert "part swap --size=1024" in ks.splitlines()
