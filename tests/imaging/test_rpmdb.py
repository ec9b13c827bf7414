"""The rpmdb an EL6/EL7 image carries when built on a host whose rpm writes sqlite: a Berkeley
DB hash `Packages` that BDB's own tools and the host's rpm (bdb_ro) read, the image's own rpm
run in a chroot to rebuild it, and every way it can go wrong failing the build clearly.

Expectations come from the real tools (db5.3_verify, db5.3_dump, rpm -qp on the fixture
package files, the disk read with debugfs), never from release/imaging/rpmdb.py."""

from __future__ import annotations

import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from release.errors import OperationError, ToolMissing
from release.imaging import installroot, manifest, rpmdb
from release.imaging.builder import build
from tests.imaging.conftest import ImageFactory, definition
from tests.imaging.rpmstandin import CALLS, answering
from tests.imaging.test_builder import leftovers

DBPATH = "var/lib/rpm"
PACKAGES = ["filesystem", "busybox", "openssh-server", "cloud-init", "kernel"]
NATIVE = "<" if sys.byteorder == "little" else ">"


def run(*argv: str | Path) -> str:
    return subprocess.run([str(a) for a in argv], check=True, capture_output=True, text=True).stdout


def dnf_tree(repo: Path, el: int, tmp_path: Path, packages: list[str]) -> Path:
    """The tree dnf makes (sqlite rpmdb), as the builder's first step leaves it."""
    tree = tmp_path / "tree"
    image = definition(repo, el, packages=packages)
    installroot.install_tree(image, "aws", tree, packages, tmp_path / "home")
    assert (tree / DBPATH / "rpmdb.sqlite").is_file()  # what this host's rpm writes
    return tree


def bdb_ro(db: Path, qf: str) -> list[str]:
    out = run("rpm", "--dbpath", db, "--define", "_db_backend bdb_ro", "-qa", "--qf", qf)
    return sorted(out.splitlines())


def dumped(path: Path) -> dict[bytes, bytes]:
    """Every key/value of a BDB database, as db5.3_dump prints them (bytevalue format)."""
    lines = run("db5.3_dump", path).splitlines()
    data = [bytes.fromhex(line[1:]) for line in lines[lines.index("HEADER=END") + 1 : -1]]
    return dict(zip(data[0::2], data[1::2], strict=True))


def test_the_converted_rpmdb_is_a_bdb_hash_that_rpm_reads(
    el_repos: dict[int, Path], tmp_path: Path
) -> None:
    tree = dnf_tree(el_repos[7], 7, tmp_path, PACKAGES)
    assert rpmdb.make_native(tree, "sqlite") == "bdb"
    db = tree / DBPATH
    names = sorted(p.name for p in db.iterdir())
    assert "Packages" in names
    assert [n for n in names if n.startswith(("rpmdb.sqlite", "__db."))] == []
    assert (db / "Packages").stat().st_mode & 0o777 == 0o644
    # The metadata page, read by hand: hash magic 0x061561, version 9, 4096-byte pages.
    meta = (db / "Packages").read_bytes()[:24]
    magic, version, pagesize = struct.unpack(NATIVE + "III", meta[12:24])
    assert (magic, version, pagesize) == (0x061561, 9, 4096)
    assert "Verification of" in run("db5.3_verify", db / "Packages")  # exit 0 too
    assert "succeeded" in run("db5.3_verify", db / "Packages")
    # The host's rpm (read-only BDB) lists what the package manifest lists, with the
    # SHA1HEADER each fixture package file carries: the headers went over unchanged.
    listed = bdb_ro(db, r"%{NAME} %{EPOCHNUM} %{VERSION} %{RELEASE} %{ARCH}\n")
    assert listed == [p.line() for p in manifest.read_tree(tree)]
    assert len(listed) == len(PACKAGES)
    files = [next(el_repos[7].glob(f"{name}-1.0-*.rpm")) for name in PACKAGES]
    from_files = sorted(run("rpm", "-qp", "--qf", r"%{NEVRA} %{SHA1HEADER}\n", *files).splitlines())
    assert bdb_ro(db, r"%{NEVRA} %{SHA1HEADER}\n") == from_files
    # Key 0 holds the largest instance number rpm sees (keys in native byte order).
    instances = [int(i) for i in bdb_ro(db, r"%{DBINSTANCE}\n")]
    records = dumped(db / "Packages")
    assert records[struct.pack(NATIVE + "I", 0)] == struct.pack(NATIVE + "I", max(instances))
    assert sorted(struct.unpack(NATIVE + "I", k)[0] for k in records) == sorted([0, *instances])


def test_a_package_added_later_gets_a_new_instance(
    el_repos: dict[int, Path], tmp_path: Path
) -> None:
    """EL's rpm numbers a package it installs key 0 + 1 and writes that back to key 0. Done
    here with db5.3_load on the converted file (no rpm on this host writes BDB): the new
    package is listed under a number no package had, and the others keep theirs."""
    tree = dnf_tree(el_repos[7], 7, tmp_path / "a", ["filesystem", "busybox"])
    rpmdb.make_native(tree, "sqlite")
    db = tree / DBPATH
    before = bdb_ro(db, r"%{DBINSTANCE} %{NEVRA}\n")
    other = dnf_tree(el_repos[7], 7, tmp_path / "b", ["filesystem", "tuned"])
    con = sqlite3.connect(other / DBPATH / "rpmdb.sqlite")
    blob = con.execute("SELECT blob FROM Packages WHERE hnum = 2").fetchone()[0]
    con.close()
    key0 = struct.pack(NATIVE + "I", 0)
    new = struct.unpack(NATIVE + "I", dumped(db / "Packages")[key0])[0] + 1
    add = ["VERSION=3", "format=bytevalue", "type=hash", "HEADER=END"]
    add += [f" {key0.hex()}", f" {struct.pack(NATIVE + 'I', new).hex()}"]
    add += [f" {struct.pack(NATIVE + 'I', new).hex()}", f" {bytes(blob).hex()}", "DATA=END"]
    subprocess.run(
        ["db5.3_load", str(db / "Packages")],
        input="\n".join(add) + "\n",
        text=True,
        check=True,
        capture_output=True,
    )
    after = bdb_ro(db, r"%{DBINSTANCE} %{NEVRA}\n")
    assert sorted([*before, f"{new} tuned-1.0-1.el7.x86_64"]) == after
    assert str(new) not in [line.split()[0] for line in before]


def test_a_header_that_cannot_be_converted_fails_the_build(
    make_image: ImageFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = installroot.install_tree

    def install_then_damage(image: object, variant: str, root: Path, *args: object) -> None:
        real(image, variant, root, *args)  # type: ignore[arg-type]
        con = sqlite3.connect(root / DBPATH / "rpmdb.sqlite")
        con.execute("UPDATE Packages SET blob = substr(blob, 1, 200) WHERE hnum = 2")
        con.commit()
        con.close()

    monkeypatch.setattr(installroot, "install_tree", install_then_damage)
    image = make_image(7, packages=["filesystem", "busybox"])
    with pytest.raises(
        OperationError,
        match=r"rpmdb: package #2 in \S+/var/lib/rpm/rpmdb.sqlite cannot be converted for"
        r" EL's rpm: 200 bytes where its index says \d+\. .*rebuild",
    ):
        build(image, "aws", tmp_path / "out", tmp_path / "cache")
    assert leftovers(tmp_path) == []


def debugfs(raw: Path, request: str) -> str:
    return run("debugfs", "-R", request, f"{raw}?offset=1048576")


@pytest.mark.slow
def test_the_image_s_own_rpm_rebuilds_its_database_in_a_chroot(
    make_image: ImageFactory, tmp_path: Path
) -> None:
    image = make_image(
        6, packages=["filesystem", "busybox", "rpm", "openssh-server", "policycoreutils"]
    )
    with answering() as given:
        result = build(image, "openstack", tmp_path / "out", tmp_path / "cache")
    assert result.rpmdb_backend == "bdb"
    calls = debugfs(result.raw_path, f"cat {CALLS}").splitlines()
    assert calls[0] == "--rebuilddb Packages=yes"  # after the conversion, inside the image
    assert calls[1].startswith("-qa --qf ") and calls[1].endswith("Packages=yes")
    assert len(calls) == 2
    listing = debugfs(result.raw_path, "ls -l /var/lib/rpm")
    assert " Packages" in listing and " Name" in listing  # the stand-in's rebuilt index
    assert "__db." not in listing and "rpmdb.sqlite" not in listing
    manifest_lines = result.manifest_path.read_text().splitlines()
    assert "rpm 0 1.0 1.el6 x86_64" in manifest_lines
    assert (
        sorted(line.replace("\t", " ").replace("(none)", "0") for line in given[0].split("\n"))
        == manifest_lines
    )


@pytest.mark.slow
def test_an_image_rpm_that_lists_other_packages_fails_the_build(
    make_image: ImageFactory, tmp_path: Path
) -> None:
    image = make_image(7, packages=["filesystem", "busybox", "rpm", "policycoreutils"])
    with (
        answering(drop="busybox"),
        pytest.raises(
            OperationError,
            match=r"rpmdb: the image's own rpm \(/usr/bin/rpm\) does not list"
            r" busybox-1\.0-1\.el7\.x86_64 after `rpm --rebuilddb`",
        ),
    ):
        build(image, "aws", tmp_path / "out", tmp_path / "cache")
    assert leftovers(tmp_path) == []


def test_on_a_host_whose_rpm_writes_bdb_the_check_stays(
    el_repos: dict[int, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An EL/Fedora host's dnf leaves a BDB rpmdb (and __db.* files): nothing to convert
    (no db_load runs: no tool is even looked for), but the image's own rpm still rebuilds
    and must list what was installed."""
    tree = dnf_tree(el_repos[7], 7, tmp_path, ["filesystem", "busybox", "rpm"])
    rpmdb.convert(tree / DBPATH)  # what such a host's dnf would leave: BDB
    (tree / DBPATH / "__db.002").write_bytes(b"env")
    monkeypatch.setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    monkeypatch.setattr(rpmdb, "writer", lambda name: pytest.fail(f"{name} was looked for"))
    lines = [f"{n}\t(none)\t1.0\t1.el7\tx86_64" for n in ("filesystem", "busybox", "rpm")]
    monkeypatch.setenv("RPM_STANDIN_QA", "\n".join(lines))
    assert rpmdb.make_native(tree, "bdb") == "bdb"
    calls = (tree / CALLS.lstrip("/")).read_text().splitlines()
    assert calls[0] == "--rebuilddb Packages=yes"
    assert sorted(p.name for p in (tree / DBPATH).glob("__db.*")) == []
    monkeypatch.setenv("RPM_STANDIN_QA", "\n".join(lines[:2]))
    with pytest.raises(OperationError, match=r"does not list rpm-1\.0-1\.el7\.x86_64"):
        rpmdb.make_native(tree, "bdb")


def test_header_problems_are_named() -> None:
    def header(tags: int, data: int, first: int = 63, size: int | None = None) -> bytes:
        body = struct.pack(">II", tags, data) + struct.pack(">IIII", first, 7, 0, 16)
        body += bytes(16 * (tags - 1) + data)
        return body if size is None else body[:size]

    assert rpmdb.header_problem(header(3, 40)) is None
    assert rpmdb.header_problem(header(3, 40, size=50)) == "50 bytes where its index says 96"
    assert rpmdb.header_problem(b"\0" * 10) == "10 bytes, shorter than the smallest header"
    assert "not the immutable region (63)" in str(rpmdb.header_problem(header(3, 40, first=1000)))
    assert "0 index entries" in str(rpmdb.header_problem(bytes(24)))
    too_big = struct.pack(">II", 1, 0x01000000) + bytes(16)
    assert rpmdb.header_problem(too_big) == (
        "16777216 bytes of data (EL's rpm reads at most 16777215)"
    )
    with pytest.raises(OperationError, match=r"numbered 0, outside 1\.\.2\^32-1"):
        list(rpmdb.load_input([(0, header(3, 40))], "db"))
    with pytest.raises(OperationError, match="db lists no packages"):
        list(rpmdb.load_input([], "db"))


def test_what_each_reader_lists_differently_is_named() -> None:
    ours = rpmdb.parse_list("a\t(none)\t1\t1.el7\tx86_64\tf00\nb\t2\t1\t1\tnoarch\tbaa\n", "x")
    assert sorted(p.nevra for p in ours) == ["a-1-1.el7.x86_64", "b-2:1-1.noarch"]
    theirs = rpmdb.parse_list("a\t(none)\t1\t1.el7\tx86_64\nc\t0\t1\t1\tnoarch\n", "y")
    assert rpmdb.differences_nevra(ours, theirs, "the image's own rpm") == (
        "rpmdb: the image's own rpm does not list b-2:1-1.noarch;"
        " lists c-1-1.noarch, which dnf did not install"
    )
    changed = rpmdb.parse_list("a\t(none)\t1\t1.el7\tx86_64\tf01\nb\t2\t1\t1\tnoarch\tbaa\n", "z")
    assert "other SHA1HEADERs" in str(rpmdb.differences(ours, changed, "the converted database"))
    assert rpmdb.differences(ours, set(ours), "same") is None
    with pytest.raises(OperationError, match="unexpected line from y's rpm -qa"):
        rpmdb.parse_list("only\ttwo\n", "y")


def test_the_commands() -> None:
    root = Path("/w/tree")
    assert rpmdb.rebuild_argv(root, "usr/bin/rpm") == [
        "chroot",
        "/w/tree",
        "/usr/bin/rpm",
        "--rebuilddb",
    ]
    assert rpmdb.image_query_argv(root, "bin/rpm")[:4] == ["chroot", "/w/tree", "/bin/rpm", "-qa"]
    assert rpmdb.host_query_argv(root, "bdb_ro")[5:7] == ["--define", "_db_backend bdb_ro"]
    assert "--define" not in rpmdb.host_query_argv(root, None)
    assert rpmdb.load_argv("db_load", root / "d", root / "P") == [
        "db_load",
        "-f",
        "/w/tree/d",
        "/w/tree/P",
    ]


def test_the_image_rpm_is_found_inside_the_root_only(tmp_path: Path) -> None:
    (tmp_path / "usr" / "bin").mkdir(parents=True)
    assert rpmdb.image_rpm(tmp_path) is None
    (tmp_path / "bin").symlink_to("/usr/bin")  # absolute: would reach the host's rpm
    assert rpmdb.image_rpm(tmp_path) is None
    (tmp_path / "usr" / "bin" / "rpm").write_text("#!/bin/sh\n")
    assert rpmdb.image_rpm(tmp_path) == "usr/bin/rpm"


def test_a_host_without_the_bdb_writer_stops_before_dnf_runs(
    make_image: ImageFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dnf", "rpm", "sfdisk", "mkfs.ext4", "e2fsck", "debugfs", "grub-mkimage"):
        (bin_dir / tool).symlink_to(run("which", tool).strip())
    for tool in ("unshare", "chroot", "db5.3_verify"):
        (bin_dir / tool).symlink_to(run("which", tool).strip())
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(
        installroot, "install_tree", lambda *a: pytest.fail("dnf ran without the BDB writer")
    )
    with pytest.raises(
        ToolMissing,
        match=r"db5\.3_load is not installed: install it with 'apt-get install db5\.3-util'"
        r" \(Debian/Ubuntu\) or 'dnf install libdb-utils' \(Fedora/EL\)",
    ):
        build(make_image(7), "aws", tmp_path / "out", tmp_path / "cache")
    assert leftovers(tmp_path) == []


def test_install_times_become_the_sde_and_the_file_is_the_same_twice(
    el_repos: dict[int, Path], tmp_path: Path
) -> None:
    """INSTALLTIME/INSTALLTID (outside the signed region) are set to the SDE; SHA1HEADER is
    still the package file's; two conversions of two installs write the same bytes (db_load
    leaves memory garbage and a clock-made file id, which `settle` replaces)."""
    sde = 1700000000
    made = []
    for i in (1, 2):
        tree = dnf_tree(el_repos[7], 7, tmp_path / str(i), PACKAGES)
        rpmdb.make_native(tree, "sqlite", when=sde)
        made.append((tree / DBPATH / "Packages").read_bytes())
        assert "succeeded" in run("db5.3_verify", tree / DBPATH / "Packages")
    assert made[0] == made[1]
    db = tree / DBPATH
    assert bdb_ro(db, r"%{INSTALLTIME} %{INSTALLTID}\n") == [f"{sde} {sde}"] * len(PACKAGES)
    files = [next(el_repos[7].glob(f"{name}-1.0-*.rpm")) for name in PACKAGES]
    from_files = sorted(run("rpm", "-qp", "--qf", r"%{NEVRA} %{SHA1HEADER}\n", *files).splitlines())
    assert bdb_ro(db, r"%{NEVRA} %{SHA1HEADER}\n") == from_files


def test_install_time_rewrites_only_the_tags_after_the_region() -> None:
    """A hand-made header: region (tag 63) covering itself and INSTALLTIME, then INSTALLTIME
    and INSTALLTID outside it. Only the latter two change, in place."""

    def entry(tag: int, kind: int, offset: int, count: int) -> bytes:
        return struct.pack(">IiiI", tag, kind, offset, count)

    # data: [0:4] INSTALLTIME inside the region, [4:20] region trailer, [20:24], [24:28]
    trailer = entry(63, 7, -2 * 16, 16)
    data = struct.pack(">I", 111) + trailer + struct.pack(">II", 222, 333)
    index = entry(63, 7, 4, 16) + entry(1008, 4, 0, 1) + entry(1008, 4, 20, 1)
    index += entry(1128, 4, 24, 1)
    blob = struct.pack(">II", 4, len(data)) + index + data
    assert rpmdb.header_problem(blob) is None
    out = rpmdb.install_time(blob, 5)
    assert len(out) == len(blob) and out[: 8 + 64 + 20] == blob[: 8 + 64 + 20]
    assert struct.unpack(">II", out[-8:]) == (5, 5)
