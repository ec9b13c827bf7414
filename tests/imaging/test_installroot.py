"""The installroot builder's dnf argv (pure), the shipped CentOS definitions' vault repos,
and the manifest parser."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from release.config.check import load_checked
from release.config.source import open_source
from release.errors import OperationError
from release.imaging import disk, installroot, manifest
from release.imaging.kickstart import rendering_for
from release.integrity.keyinfo import read_key_bytes
from release.model.image import ImageDefinition
from tests.imaging.conftest import definition

ROOT = Path(__file__).resolve().parents[2]
UUID = "0b5c6c8e-1111-4222-8333-444455556666"


def shipped(name: str) -> ImageDefinition:
    with open_source(str(ROOT)) as source:
        config = load_checked(source, read_key_bytes)
    assert not config.problems, config.problems
    return config.image(name)


def test_centos7_dnf_uses_exactly_the_vault_repos() -> None:
    image = shipped("centos-7-genericcloud")
    part = rendering_for(image, "openstack")
    argv = installroot.dnf_argv(
        image, "openstack", Path("/r"), installroot.packages_to_install(image, "openstack", part)
    )
    repos = [a.split("=", 1)[1] for a in argv if a.startswith("--repofrompath=")]
    assert repos == [
        "base,https://vault.centos.org/7.9.2009/os/x86_64/",
        "updates,https://vault.centos.org/7.9.2009/updates/x86_64/",
        "extras,https://vault.centos.org/7.9.2009/extras/x86_64/",
    ]
    assert "--setopt=reposdir=/dev/null" in argv  # no host repo can sneak in
    assert "--disablerepo=*" in argv
    assert argv.index("--disablerepo=*") < argv.index("--enablerepo=base")
    assert "--setopt=base.gpgcheck=1" in argv
    assert "--setopt=base.gpgkey=https://vault.centos.org/RPM-GPG-KEY-CentOS-7" in argv
    assert "--releasever=7" in argv and "--installroot=/r" in argv
    # Not excluded: the kernel requires linux-firmware; the template erases it after the install.
    assert not [a for a in argv if a.startswith("--exclude=") and "firmware" in a]
    assert "--exclude=NetworkManager*" in argv
    install = argv[argv.index("install") + 1 :]
    assert install[:3] == ["@core", "kernel", "grub2"]
    assert "chrony" in install and "cloud-utils-growpart" in install


def test_centos6_gce_uses_epel_and_no_google_agent() -> None:
    image = shipped("centos-6-genericcloud")
    argv = installroot.dnf_argv(image, "gce", Path("/r"), list(image.packages_for("gce")))
    assert (
        "--repofrompath=epel,https://archives.fedoraproject.org/pub/archive/epel/6/x86_64/" in argv
    )
    assert "--releasever=6" in argv
    # Google's repo has no EL6 packages: cloud-init's GCE datasource does the agent's job.
    assert "google-compute-engine" not in argv[argv.index("install") :]


def test_gce_variant_adds_its_own_repo_without_a_key_check_override() -> None:
    image = shipped("centos-7-genericcloud")
    argv = installroot.dnf_argv(image, "gce", Path("/r"), ["x"])
    assert "--enablerepo=google-compute-engine" in argv
    assert "--setopt=google-compute-engine.gpgcheck=1" in argv


def test_manifest_parse_and_render() -> None:
    text = (
        "zlib\t0\t1.2.7\t21.el7_9\tx86_64\n"
        "bash\t0\t4.2.46\t35.el7_9\tx86_64\n"
        "shadow-utils\t2\t4.6\t5.el7\tx86_64\n"
    )
    packages = manifest.parse(text)
    assert [p.name for p in packages] == ["bash", "shadow-utils", "zlib"]
    assert manifest.to_text(packages).splitlines()[1] == "shadow-utils 2 4.6 5.el7 x86_64"
    assert '"epoch": 2' in manifest.to_json(packages)
    assert manifest.query_argv(Path("/r"))[:5] == [
        "rpm",
        "--root",
        "/r",
        "--dbpath",
        "/var/lib/rpm",
    ]
    # An EL6/EL7 rpmdb (Berkeley DB) is read read-only by a host whose rpm writes sqlite.
    assert manifest.query_argv(Path("/r"), "bdb_ro")[5:7] == ["--define", "_db_backend bdb_ro"]


def test_manifest_rejects_garbage() -> None:
    with pytest.raises(OperationError, match="unexpected line"):
        manifest.parse("only two\tfields\n")


def test_host_traces_are_removed(tmp_path: Path) -> None:
    for rel in ("var/cache/dnf/x", "var/lib/dnf/history.sqlite", "var/log/dnf.rpm.log"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    installroot.remove_host_traces(tmp_path)
    assert not (tmp_path / "var/cache/dnf").exists()
    assert not (tmp_path / "var/lib/dnf").exists()
    assert not (tmp_path / "var/log/dnf.rpm.log").exists()


def test_unprivileged_install_and_assembly_under_unshare(
    el_repos: dict[int, Path], tmp_path: Path
) -> None:
    """dnf and mkfs.ext4 run as an unprivileged user inside `unshare -r` (the builder's path
    when not root): the tree installs, and the image's files are owned by root."""
    if not installroot.userns_available():
        pytest.skip("this host has no user namespaces")
    base = Path(tempfile.mkdtemp(dir="/tmp", prefix="unpriv-"))
    try:
        shutil.copytree(el_repos[7], base / "repo")
        (base / "work").mkdir()
        subprocess.run(["chown", "-R", "nobody:nogroup", str(base)], check=True)
        base.chmod(0o755)
        as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        wrap = [*as_nobody, *installroot.privilege_wrap(65534, True)]
        image = definition(base / "repo", 7)
        work = base / "work"
        home, tree = work / "home", work / "tree"
        for folder in (home, tree):  # what an unprivileged build would have made itself
            folder.mkdir()
            subprocess.run(["chown", "nobody", str(folder)], check=True)
        installroot.install_tree(
            image, "aws", tree, ["filesystem", "busybox", "openssh-server"], home, wrap
        )
        assert (tree / "etc" / "ssh" / "sshd_config").stat().st_uid == 65534
        assert not (tree / str(work).lstrip("/")).exists()  # dnf's metadata removed
        raw = work / "d.raw"
        subprocess.run([*as_nobody, "truncate", "-s", "0", str(raw)], check=True)
        with raw.open("r+b") as fh:
            fh.truncate(64 << 20)
        subprocess.run(
            [*wrap, *disk.mkfs_argv(raw, tree, 7, disk.Layout(64 << 20), UUID)], check=True
        )
        owner = subprocess.run(
            ["debugfs", "-R", "stat /etc/ssh/sshd_config", f"{raw}?offset={disk.PART_START}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        assert "User:     0   Group:     0" in owner
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_checked_key_is_handed_to_dnf_as_a_local_file() -> None:
    image = shipped("centos-7-genericcloud")
    keys = {"base": Path("/w/home/keys/base.asc")}
    argv = installroot.dnf_argv(image, "aws", Path("/r"), ["x"], Path("/w/c"), keys)
    assert "--setopt=base.gpgkey=file:///w/home/keys/base.asc" in argv
    assert "--setopt=updates.gpgkey=https://vault.centos.org/RPM-GPG-KEY-CentOS-7" in argv
    assert "--setopt=cachedir=/w/c" in argv
