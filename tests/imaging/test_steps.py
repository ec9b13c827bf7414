"""The template's steps that are not file edits, as argv and shell (pure); the built images
are checked in test_reference.py."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from release.imaging import steps


def test_services_by_each_el_tool() -> None:
    assert steps.service_argv(7, "/usr/bin/systemctl", "sshd", True) == [
        "/usr/bin/systemctl",
        "enable",
        "sshd",
    ]
    assert steps.service_argv(6, "/sbin/chkconfig", "kdump", False) == [
        "/sbin/chkconfig",
        "kdump",
        "off",
    ]
    line = steps.services_command(("sshd", "network"), ("kdump",))
    assert line == "services --disabled=kdump --enabled=sshd,network"
    assert steps.services_command((), ()) is None


def test_firmware_patterns_match_whole_names() -> None:
    names = ["linux-firmware", "kernel-firmware", "iwl7260-firmware", "firmware-tools", "kernel"]
    assert steps.matching(names, ("*-firmware",)) == [
        "iwl7260-firmware",
        "kernel-firmware",
        "linux-firmware",
    ]
    assert steps.erase_argv(Path("/r"), ["a"])[-3:] == ["-e", "--nodeps", "a"]


def test_root_is_locked_once() -> None:
    shadow = "bin:*:1:0:99999:7:::\nroot::1:0:99999:7:::\n"
    assert steps.locked_shadow(shadow) == "bin:*:1:0:99999:7:::\nroot:!:1:0:99999:7:::\n"
    assert steps.locked_shadow("root:$6$salt$hash:1::::::\n") == "root:!$6$salt$hash:1::::::\n"
    for already in ("root:!!:1::::::\n", "root:*:1::::::\n", "root:!$6$x:1::::::\n"):
        assert steps.locked_shadow(already) == already


def test_cleanup_script_and_python_remove_the_same(tmp_path: Path) -> None:
    patterns = ("/tmp/*", "/tmp/.[!.]*", "/var/lib/dnf", "/etc/dnf/modules.d", "/etc/dnf/")
    by_python, by_shell = tmp_path / "py", tmp_path / "sh"
    for root in (by_python, by_shell):
        for rel in ("tmp/a/b", "tmp/.hidden", "var/lib/dnf/x", "etc/dnf/modules.d/m", "keep/k"):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text("x")
    steps.remove_leftovers(by_python, patterns)
    script = steps.cleanup_script(patterns).replace(" /", f" {by_shell}/")
    subprocess.run(["sh", "-c", script], check=True)
    for root in (by_python, by_shell):
        left = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
        assert left == ["etc", "keep", "keep/k", "tmp", "var", "var/lib"], root


def test_a_sqlite_rpmdb_loses_nothing_when_its_wal_goes(tmp_path: Path) -> None:
    live = tmp_path / "live.sqlite"
    writer = sqlite3.connect(live)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB)")
    writer.execute("INSERT INTO Packages VALUES (1, x'00')")
    writer.commit()  # the row is only in the -wal, as a writer that never closed leaves it
    db = tmp_path / "root/var/lib/rpm/rpmdb.sqlite"
    db.parent.mkdir(parents=True)
    shutil.copyfile(live, db)
    shutil.copyfile(tmp_path / "live.sqlite-wal", db.with_name("rpmdb.sqlite-wal"))
    writer.close()
    steps.remove_leftovers(tmp_path / "root", ("/var/lib/rpm/*-wal", "/var/lib/rpm/*-shm"))
    assert sorted(p.name for p in db.parent.iterdir()) == ["rpmdb.sqlite"]
    reader = sqlite3.connect(db)
    assert reader.execute("SELECT count(*) FROM Packages").fetchone() == (1,)
    reader.close()
