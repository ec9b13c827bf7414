"""The template's steps that are not file edits: services switched on and off by the image's
own systemctl (EL7) or chkconfig (EL6), firmware packages erased after the install, and the
build's leftovers removed last.

Each step has a pure rendering as argv (the installroot builder runs it in a chroot, or with
the host's rpm on the tree) and as shell for the kickstart's `%post`, so both builders do the
same thing with the same tools.
"""

from __future__ import annotations

import contextlib
import fnmatch
import shlex
import shutil
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from release import runner
from release.imaging import manifest
from release.model.template import EL

# Where EL6/EL7 keep the service manager's tool and the services it manages.
_SYSTEMCTL = ("usr/bin/systemctl", "bin/systemctl")
_CHKCONFIG = ("sbin/chkconfig", "usr/sbin/chkconfig")
_UNITS = ("usr/lib/systemd/system", "etc/systemd/system")
_INITD = "etc/rc.d/init.d"


def service_argv(el: EL, tool: str, name: str, on: bool) -> list[str]:
    """How the image's own tool switches one service (EL7's systemctl hands a SysV script
    such as `network` to chkconfig itself, as anaconda's `services` does)."""
    if el == 6:
        return [tool, name, "on" if on else "off"]
    return [tool, "enable" if on else "disable", name]


def _find(root: Path, candidates: Sequence[str]) -> str | None:
    return next(("/" + c for c in candidates if (root / c).exists()), None)


def _has_service(root: Path, el: EL, name: str) -> bool:
    if (root / _INITD / name).is_file():
        return True
    return el == 7 and any((root / d / f"{name}.service").is_file() for d in _UNITS)


def switch_services(
    root: Path, el: EL, enable: Sequence[str], disable: Sequence[str], wrap: Sequence[str] = ()
) -> None:
    """Enable and disable the services the image has, with its own tool in a chroot. An
    image without the tool (no systemd/chkconfig: not an EL system) has none to switch."""
    tool = _find(root, _SYSTEMCTL if el == 7 else _CHKCONFIG)
    if tool is None:
        return
    for names, on in ((enable, True), (disable, False)):
        for name in names:
            if _has_service(root, el, name):
                runner.run([*wrap, "chroot", str(root), *service_argv(el, tool, name, on)])


def services_command(enable: Sequence[str], disable: Sequence[str]) -> str | None:
    """The kickstart's `services` line (anaconda runs the image's systemctl/chkconfig)."""
    parts = ["services"]
    if disable:
        parts.append(f"--disabled={','.join(disable)}")
    if enable:
        parts.append(f"--enabled={','.join(enable)}")
    return " ".join(parts) if len(parts) > 1 else None


def erase_argv(root: Path, names: Sequence[str]) -> list[str]:
    # --nodeps: the kernel requires its firmware package; nothing in a VM needs the files.
    return ["rpm", "--root", str(root), "--dbpath", manifest.DBPATH, "-e", "--nodeps", *names]


def matching(names: Sequence[str], patterns: Sequence[str]) -> list[str]:
    return sorted(n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns))


def erase_packages(
    root: Path, patterns: Sequence[str], env: dict[str, str], wrap: Sequence[str] = ()
) -> list[str]:
    """Erase the installed packages whose names match `patterns`; returns their names."""
    names = matching([p.name for p in manifest.read_tree(root)], patterns)
    if names:
        runner.run([*wrap, *erase_argv(root, names)], env=env)
    return names


def erase_script(patterns: Sequence[str]) -> str:
    """`%post --nochroot` shell: the installer's rpm erases the matching packages from the
    installed system (its own rpm, with --root, as the installroot builder does)."""
    globs = " ".join(shlex.quote(p) for p in patterns)
    return (
        'root="${ANA_INSTALL_PATH:-/mnt/sysimage}"\n'
        f'names=$(rpm --root "$root" --dbpath {manifest.DBPATH} -qa --qf "%{{NAME}}\\n" {globs})\n'
        'if [ -n "$names" ]; then\n'
        f'  rpm --root "$root" --dbpath {manifest.DBPATH} -e --nodeps $names\n'
        "fi\n"
    )


def remove_leftovers(root: Path, patterns: Sequence[str]) -> None:
    """Remove what matches `patterns` (absolute globs, files or folders) under `root`; a
    pattern ending in "/" names a folder removed only when empty."""
    _checkpoint(root / manifest.DBPATH.lstrip("/") / "rpmdb.sqlite")
    for pattern in patterns:
        if pattern.endswith("/"):
            folder = root / pattern.strip("/")
            if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
                folder.rmdir()
            continue
        for found in sorted(root.glob(pattern.lstrip("/"))):
            if found.is_dir() and not found.is_symlink():
                shutil.rmtree(found)
            else:
                found.unlink()


def _checkpoint(db: Path) -> None:
    """Fold a sqlite rpmdb's write-ahead log into the database, so removing the -wal and
    -shm files (leftovers of the host's rpm) loses no package."""
    if not db.is_file() or not db.with_name(db.name + "-wal").exists():
        return
    with contextlib.closing(sqlite3.connect(db)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def cleanup_script(patterns: Sequence[str]) -> str:
    # Our own table's globs: no spaces, meant to expand (an unmatched one stays literal).
    globs = [p for p in patterns if not p.endswith("/")]
    empty = [f"rmdir {p.rstrip('/')} 2>/dev/null || :" for p in patterns if p.endswith("/")]
    return "\n".join([f"rm -rf {' '.join(globs)}", *empty]) + "\n"


def locked_shadow(text: str) -> str:
    """`/etc/shadow` with root's password locked the way `usermod -L` does (a "!" before the
    hash; an empty one becomes "!"), as the SIG's `passwd -l root`: nobody logs in as root
    with a password until cloud-init or CloudStack's password server sets one."""
    out = []
    for line in text.splitlines(keepends=True):
        fields = line.split(":")
        if fields[0] == "root" and len(fields) > 1 and not fields[1].startswith(("!", "*")):
            fields[1] = "!" + fields[1]
            line = ":".join(fields)
        out.append(line)
    return "".join(out)


def lock_root(root: Path) -> None:
    """Lock root's password in the tree (the kickstart's `rootpw --lock` does it there)."""
    shadow = root / "etc" / "shadow"
    if shadow.is_file() and not shadow.is_symlink():
        text = shadow.read_text()
        if locked_shadow(text) != text:
            shadow.write_text(locked_shadow(text))  # in place: keeps the file's 0000 mode
