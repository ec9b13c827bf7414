"""The external installers of the kickstart builder (livemedia-creator, koji): the argv each
gets (pure), and a whole build against a fake command that records what it was given. The
default installer, qemu, is booted for real in test_qemu_builder.py."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from release.errors import InvalidInput, OperationError
from release.imaging import kickstart_builder
from release.imaging.builder import build
from tests.imaging.conftest import ImageFactory

FAKE = Path(__file__).parent / "fake_installer.py"


@pytest.fixture
def fake_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    for tool in ("livemedia-creator", "koji"):
        script = bin_dir / tool
        script.write_text(f"#!{sys.executable}\n" + FAKE.read_text())
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "calls.jsonl"))
    return tmp_path / "calls.jsonl"


@pytest.fixture
def a_disk(make_image: ImageFactory, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real raw image (from the installroot builder) for the fake installer to hand back."""
    tmp = tmp_path_factory.mktemp("installer-disk")
    return build(make_image(7), "openstack", tmp / "out", tmp / "cache").raw_path


def calls(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture
def el_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    os_release = tmp_path / "os-release"
    os_release.write_text('NAME="CentOS Linux"\nID="centos"\nID_LIKE="rhel fedora"\n')
    monkeypatch.setattr(kickstart_builder, "OS_RELEASE", os_release)


@pytest.mark.usefixtures("el_host")
@pytest.mark.parametrize("installer", ["livemedia-creator", "koji"])
def test_kickstart_build_through_each_installer(
    make_image: ImageFactory,
    tmp_path: Path,
    fake_path: Path,
    a_disk: Path,
    installer: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_DISK", str(a_disk))
    image = make_image(7, builder="kickstart", installer=installer, koji_target="el7-images")
    result = build(image, "cloudstack", tmp_path / "out", tmp_path / "cache")
    made = calls(fake_path)
    assert made[0]["tool"] == installer
    ks = str(made[0]["kickstart"])
    assert "variant cloudstack" in ks and "PermitRootLogin yes" in ks
    assert result.raw_path.read_bytes() == a_disk.read_bytes()
    assert "filesystem 0 1.0 1.el7 x86_64" in result.manifest_path.read_text()
    assert not (tmp_path / "cache" / "tmp").exists() or not any(
        (tmp_path / "cache" / "tmp").iterdir()
    )
    if installer == "koji":
        assert made[1]["argv"] == ["download-task", "--arch=x86_64", "4242"]


@pytest.mark.usefixtures("el_host")
def test_installer_that_makes_no_disk(
    make_image: ImageFactory, tmp_path: Path, fake_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_DISK", str(tmp_path / "missing.raw"))
    image = make_image(7, builder="kickstart", installer="livemedia-creator")
    with pytest.raises(OperationError, match=r"command failed"):
        build(image, "aws", tmp_path / "out", tmp_path / "cache")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert not any((tmp_path / "cache" / "tmp").iterdir())


def test_livemedia_creator_needs_an_el_host(
    make_image: ImageFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    debian = tmp_path / "os-release"
    debian.write_text('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n')
    monkeypatch.setattr(kickstart_builder, "OS_RELEASE", debian)
    image = make_image(7, builder="kickstart", installer="livemedia-creator")
    with pytest.raises(InvalidInput, match=r"EL/Fedora hosts.*use installer: qemu"):
        build(image, "aws", tmp_path / "out", tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.raw"))


@pytest.mark.parametrize(
    ("text", "el"),
    [
        ('ID="centos"\nID_LIKE="rhel fedora"\n', True),
        ("ID=rocky\nID_LIKE='rhel centos fedora'\n", True),
        ("ID=fedora\n", True),
        ("ID=debian\n", False),
        ("ID=ubuntu\nID_LIKE=debian\n", False),
        ("", False),
    ],
)
def test_is_el_host(text: str, el: bool) -> None:
    assert kickstart_builder.is_el_host(text) is el


def test_virt_install_is_refused_with_the_alternative(make_image: ImageFactory) -> None:
    with pytest.raises(ValueError, match=r"virt-install is no longer supported.*installer: qemu"):
        make_image(7, builder="kickstart", installer="virt-install")


def test_livemedia_argv(make_image: ImageFactory) -> None:
    image = make_image(6, builder="kickstart")
    argv = kickstart_builder.livemedia_argv(image, Path("/w/a.ks"), Path("/w/result"))
    assert argv[:3] == ["livemedia-creator", "--make-disk", "--no-virt"]
    assert argv[argv.index("--ks") + 1] == "/w/a.ks"
    assert argv[argv.index("--releasever") + 1] == "6"


def test_koji_argv_and_required_target(make_image: ImageFactory) -> None:
    image = make_image(7, builder="kickstart", installer="koji", koji_target="el7-images")
    argv = kickstart_builder.koji_argv(image, "gce", Path("/w/x.ks"))
    assert argv[:7] == [
        "koji",
        "image-build",
        "fixture-el7-gce",
        "1.0.0",
        "el7-images",
        image.sources[0].baseurl,
        "x86_64",
    ]
    assert argv[argv.index("--distro") + 1] == "RHEL-7.9"
    with pytest.raises(ValueError, match="koji_target"):
        make_image(7, builder="kickstart", installer="koji")


def test_fake_is_not_installed_for_real() -> None:
    assert shutil.which("livemedia-creator") is None or "fakebin" in str(
        shutil.which("livemedia-creator")
    )
