"""What EL's grubby does to a menu on a kernel update, done here to a built raw disk without
mounting it (debugfs -w), so the boot test can show the image's bootloader follows it.

`new-kernel-pkg --install` (the kernel package's scriptlet) runs `grubby --add-kernel=K
--initrd=I --copy-default --make-default --title T` when /etc/sysconfig/kernel says
UPDATEDEFAULT=yes: the default entry is copied with the new kernel and initrd, inserted before
the first entry, and made the default: on EL7 (grub2) by `grub2-editenv ... set
saved_entry=T`, on EL6 (GRUB legacy) by `default=0`. `--remove-kernel` takes the entry out
again and the first entry is the default. Written from grubby's behaviour, not from
release/imaging/bootloader.py.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.imaging.diskview import fs_spec


def envblock(saved_entry: str) -> bytes:
    """grub2-editenv's file: the signature line, variables, '#' up to 1024 bytes."""
    text = f"# GRUB Environment Block\nsaved_entry={saved_entry}\n".encode()
    return text + b"#" * (1024 - len(text))


def saved_entry(env: bytes) -> str:
    found = re.search(rb"^saved_entry=(.*)$", env, re.M)
    assert found, env[:200]
    return found.group(1).decode()


def _entry_bounds(lines: list[str], start_word: str) -> list[tuple[int, int]]:
    """(first, last+1) line index of each entry."""
    starts = [i for i, line in enumerate(lines) if line.startswith(start_word)]
    bounds = []
    for n, start in enumerate(starts):
        if start_word == "menuentry ":
            end = next(j for j in range(start, len(lines)) if lines[j].strip() == "}") + 1
        else:  # GRUB legacy: up to the next title or the end
            end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        bounds.append((start, end))
    return bounds


def _retarget(line: str, kernel: str, initrd: str, marker: str) -> str:
    words = line.split()
    if words and words[0] in ("linux16", "kernel"):
        return "\t" + " ".join([words[0], f"/boot/{kernel}", *words[2:], marker]) + "\n"
    if words and words[0] in ("initrd16", "initrd"):
        return f"\t{words[0]} /boot/{initrd}\n"
    return line


def add_el7(cfg: str, env: bytes, kernel: str, initrd: str, title: str, marker: str) -> str:
    lines = cfg.splitlines(keepends=True)
    bounds = _entry_bounds(lines, "menuentry ")
    default = saved_entry(env)
    start, end = next(b for b in bounds if lines[b[0]].split("'")[1] == default)
    copy = [_retarget(line, kernel, initrd, marker) for line in lines[start:end]]
    copy[0] = copy[0].replace(f"'{default}'", f"'{title}'", 1)
    first = bounds[0][0]
    return "".join(lines[:first] + copy + lines[first:])


def add_el6(conf: str, kernel: str, initrd: str, title: str, marker: str) -> str:
    lines = conf.splitlines(keepends=True)
    bounds = _entry_bounds(lines, "title ")
    index = int(next(x for x in lines if x.startswith("default=")).split("=")[1])
    start, end = bounds[index]
    copy = [_retarget(line, kernel, initrd, marker) for line in lines[start:end]]
    copy[0] = f"title {title}\n"
    first = bounds[0][0]
    out = lines[:first] + copy + lines[first:]
    return "".join("default=0\n" if x.startswith("default=") else x for x in out)


def remove(menu: str, title: str) -> str:
    """The entry titled `title` taken out (grub.cfg or grub.conf)."""
    lines = menu.splitlines(keepends=True)
    word = "menuentry " if any(x.startswith("menuentry ") for x in lines) else "title "
    for start, end in _entry_bounds(lines, word):
        if title in lines[start]:
            return "".join(lines[:start] + lines[end:])
    raise AssertionError(f"no entry {title!r}")


def read(raw: Path, path: str) -> bytes:
    done = subprocess.run(
        ["debugfs", "-R", f"cat {path}", fs_spec(raw)], check=True, capture_output=True
    )
    return done.stdout


def write(raw: Path, files: dict[str, bytes], work: Path) -> None:
    """Replace or create each file in the image's root filesystem, unmounted (debugfs -w)."""
    work.mkdir(parents=True, exist_ok=True)
    script = []
    for n, (path, data) in enumerate(files.items()):
        local = work / f"f{n}"
        local.write_bytes(data)
        parent, name = path.rsplit("/", 1)
        script += [f"cd {parent or '/'}", f"rm {name}", f"write {local} {name}", "cd /"]
    (work / "script").write_text("\n".join(script) + "\n")
    subprocess.run(
        ["debugfs", "-w", "-f", str(work / "script"), fs_spec(raw)],
        check=True,
        capture_output=True,
    )
    for path, data in files.items():
        assert read(raw, path) == data, path
    fsck = subprocess.run(["e2fsck", "-fn", fs_spec(raw)], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout  # debugfs left a consistent filesystem
