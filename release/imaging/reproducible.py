"""What makes two builds of the same inputs byte-identical: one SOURCE_DATE_EPOCH (SDE).

The SDE is the `SOURCE_DATE_EPOCH` environment variable when set, else the config commit's
time (the caller knows the commit). It stands for every clock the build would otherwise read:
file and directory times in the tree (clamped to it before mkfs), the filesystem's own times
(`E2FSPROGS_FAKE_TIME`), rpm's install times (`rpmdb.install_time`) and the "last changed"
day of /etc/shadow. docs/reproducible.md says what is reproducible and what is not.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from release.errors import InvalidInput

ENV = "SOURCE_DATE_EPOCH"
DAY = 86400


def source_date_epoch(env: Mapping[str, str], fallback: int) -> int:
    """The SDE from `env` when set (a clear error when it is not a number), else `fallback`."""
    value = env.get(ENV, "").strip()
    if not value:
        return fallback
    if not (value.isascii() and value.isdigit()) or int(value) > 0xFFFFFFFF:
        raise InvalidInput(
            f"{ENV}={value!r} is not a time: set it to seconds since 1970 (e.g. `git log -1"
            " --format=%ct`), or unset it to use the config commit's time"
        )
    return int(value)


def tool_env(sde: int) -> dict[str, str]:
    """What e2fsprogs reads instead of the clock (superblock and new inodes' times)."""
    return {"E2FSPROGS_FAKE_TIME": str(sde), ENV: str(sde)}


def clamp_times(tree: Path, sde: int) -> int:
    """Set every time newer than `sde` in `tree` (links themselves, not their targets) to
    `sde`, as `touch -h -d @SDE` would; return how many entries changed. Older times (the
    packages' own file times) stay: they are the same on every build."""
    changed = 0
    for dirpath, dirnames, filenames in os.walk(tree):
        for name in (*dirnames, *filenames):
            path = f"{dirpath}/{name}"
            if _clamp(path, sde):
                changed += 1
    return changed + _clamp(str(tree), sde)


def _clamp(path: str, sde: int) -> bool:
    st = os.lstat(path)
    if st.st_mtime <= sde and st.st_atime <= sde:
        return False
    times = (min(st.st_atime_ns, sde * 10**9), min(st.st_mtime_ns, sde * 10**9))
    os.utime(path, ns=times, follow_symlinks=False)
    return True


def shadow_days(text: str, sde: int) -> str:
    """/etc/shadow with each set "last changed" day (field 3) made the SDE's day: the tools
    that write it (useradd, passwd, chpasswd in %post) use today's."""
    day = str(sde // DAY)
    lines = []
    for line in text.splitlines(keepends=True):
        fields = line.rstrip("\n").split(":")
        if len(fields) >= 3 and fields[2].isdigit():
            fields[2] = day
            line = ":".join(fields) + ("\n" if line.endswith("\n") else "")
        lines.append(line)
    return "".join(lines)


def normalise_shadow(tree: Path, sde: int) -> None:
    """Rewrite the tree's /etc/shadow (and its backup shadow-) in place, keeping its mode."""
    for name in ("shadow", "shadow-"):
        path = tree / "etc" / name
        if path.is_file() and not path.is_symlink():
            text = path.read_text(encoding="utf-8", errors="surrogateescape")
            new = shadow_days(text, sde)
            if new != text:
                path.write_text(new, encoding="utf-8", errors="surrogateescape")


def ctime_script(tree: Path, sde: int) -> tuple[str, list[str]]:
    """The debugfs commands that set every inode's ctime to `sde`, and the paths they cannot
    name (a `"` or newline in the name). `mkfs.ext4 -d` copies each file's ctime from the
    tree, and no system call sets a ctime: only the filesystem image can be changed."""
    lines, unnamed = [], []
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames.sort()
        for name in sorted((*dirnames, *filenames)):
            rel = "/" + os.path.relpath(f"{dirpath}/{name}", tree)
            if '"' in rel or "\n" in rel:
                unnamed.append(rel)
                continue
            lines.append(f'sif "{rel}" ctime @{sde}\nsif "{rel}" atime @{sde}\n')
    return "".join(lines), unnamed


def debugfs_argv(script: Path, fs: str) -> list[str]:
    return ["debugfs", "-w", "-f", str(script), fs]
