"""The template's steps that are not file edits, as argv and shell (pure); the built images
are checked in test_reference.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

from release.build import steps


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
