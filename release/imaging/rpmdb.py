"""The image's package database in the format its own rpm reads.

EL6 (rpm 4.8, BDB 4.7) and EL7 (rpm 4.11, BDB 5.3) read only Berkeley DB rpmdbs; Debian's and
Fedora's rpm (4.16+) write sqlite. After `dnf --installroot`, `make_native` copies the header
blobs of dnf's sqlite `Packages(hnum, blob)` table, unchanged, into a BDB hash `Packages`
(hash version 9, 4096-byte pages) written by `db_load`: key = the header's instance number
(4 bytes, in the byte order of the file, which rpm follows), value = the blob, and key 0 =
the largest instance, which rpm reads to number the next package it installs. When the image
carries rpm, its own `rpm --rebuilddb` then makes the indexes in a chroot, and the build stops
unless every reader (the host's rpm, the image's rpm) lists what dnf installed.

The headers pass through a pure function (`load_input`), which sets their install times to
SOURCE_DATE_EPOCH so two builds write the same bytes (`install_time`); the argv are pure
functions; only the functions at the end touch disk.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import struct
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from release import runner, tools
from release.errors import OperationError, ToolError, ToolMissing
from release.imaging import manifest

host_backend = manifest.host_backend
SQLITE_FILES = ("rpmdb.sqlite", "rpmdb.sqlite-shm", "rpmdb.sqlite-wal")
PACKAGES = "Packages"
PAGE_SIZE = 4096
# What EL6/EL7's rpm accepts (rpm 4.8/4.11 hdrchkTags / hdrchkData).
TAGS_MAX = 0xFFFF
DATA_MAX = 0x00FFFFFF
REGION_TAG = 63  # RPMTAG_HEADERIMMUTABLE: every header rpm 4.x installs starts with it
# What rpm adds to a header when it installs it, outside the immutable region (so no
# SHA1HEADER covers them): RPMTAG_INSTALLTIME and RPMTAG_INSTALLTID, both the wall clock.
# (RPMTAG_INSTALLCOLOR, 1127, is the arch's colour: the same on every build.)
INSTALL_TIME_TAGS = (1008, 1128)
_INT32 = 4
_ENTRY = ">IiiI"  # tag, type, offset, count
TIMEOUT = 1800  # seconds, for each tool run on the rpmdb (a large one rebuilds in seconds)
IMAGE_RPMS = ("usr/bin/rpm", "bin/rpm")  # EL7, EL6
_FIELDS = r"%{NAME}\t%{EPOCH}\t%{VERSION}\t%{RELEASE}\t%{ARCH}"
HOST_QF = _FIELDS + r"\t%{SHA1HEADER}\n"
IMAGE_QF = _FIELDS + r"\n"


@dataclass(frozen=True, order=True)
class Installed:
    nevra: str
    sha1header: str | None = None  # the host's reading only


def header_problem(blob: bytes) -> str | None:
    """Why EL6/EL7's rpm could not load this header blob, or None. The blob is what rpm's
    headerExport writes: index count and data length (big-endian), 16-byte index entries,
    then the data, the first entry being the immutable region."""
    if len(blob) < 24:
        return f"{len(blob)} bytes, shorter than the smallest header"
    tags, data = struct.unpack(">II", blob[:8])
    if not 0 < tags <= TAGS_MAX:
        return f"{tags} index entries (EL's rpm reads 1 to {TAGS_MAX})"
    if data > DATA_MAX:
        return f"{data} bytes of data (EL's rpm reads at most {DATA_MAX})"
    if len(blob) != 8 + 16 * tags + data:
        return f"{len(blob)} bytes where its index says {8 + 16 * tags + data}"
    first = struct.unpack(">I", blob[8:12])[0]
    if first != REGION_TAG:
        return f"it starts with tag {first}, not the immutable region ({REGION_TAG})"
    return None


def install_time(blob: bytes, when: int) -> bytes:
    """`blob` (a checked header) with INSTALLTIME and INSTALLTID set to `when`, in place:
    same size, same index, and only entries after the immutable region, which is what
    SHA1HEADER and the signatures cover, are touched."""
    tags = struct.unpack(">I", blob[:4])[0]
    start = 8 + 16 * tags
    region_offset = struct.unpack_from(_ENTRY, blob, 8)[2]
    trailer = struct.unpack_from(_ENTRY, blob, start + region_offset)
    immutable = -trailer[2] // 16  # the region's index entries come first
    out = bytearray(blob)
    for index in range(max(immutable, 1), tags):
        tag, kind, offset, count = struct.unpack_from(_ENTRY, blob, 8 + 16 * index)
        at = start + offset
        if tag in INSTALL_TIME_TAGS and kind == _INT32 and count == 1 and at + 4 <= len(blob):
            struct.pack_into(">I", out, at, when & 0xFFFFFFFF)
    return bytes(out)


def load_input(
    headers: Sequence[tuple[int, bytes]],
    where: str,
    byteorder: str = sys.byteorder,
    when: int | None = None,
) -> Iterator[bytes]:
    """The `db_load` input (bytevalue format), line by line, of a hash `Packages` database
    holding `headers` as (instance, blob), plus key 0 = the largest instance. Each header is
    checked as it goes: a bad one raises before its line. With `when` (SOURCE_DATE_EPOCH),
    the headers' install times become it."""
    if not headers:
        raise OperationError(f"rpmdb: {where} lists no packages: nothing to convert")
    for instance, _ in headers:
        if not 0 < instance <= 0xFFFFFFFF:
            raise OperationError(
                f"rpmdb: {where} has a package numbered {instance}, outside 1..2^32-1: the"
                " database is damaged; rebuild the image"
            )
    key = "<I" if byteorder == "little" else ">I"

    def line(raw: bytes) -> bytes:
        return b" " + raw.hex().encode() + b"\n"

    yield b"VERSION=3\nformat=bytevalue\ntype=hash\ndb_pagesize=%d\nHEADER=END\n" % PAGE_SIZE
    top = max(instance for instance, _ in headers)
    yield line(struct.pack(key, 0)) + line(struct.pack(key, top))
    for instance, blob in headers:
        problem = header_problem(blob)
        if problem:
            raise OperationError(
                f"rpmdb: package #{instance} in {where} cannot be converted for EL's rpm:"
                f" {problem}. The database dnf wrote is damaged, or the package is not one"
                " EL6/EL7 can install: rebuild, and check that package in the repo"
            )
        if when is not None:
            blob = install_time(blob, when)
        yield line(struct.pack(key, instance)) + line(blob)
    yield b"DATA=END\n"


_P_OVERFLOW, _P_HASH, _H_OFFPAGE = 7, 13, 3  # BDB's page and item types
_OVERHEAD = 26  # a page's header
_UID = slice(52, 72)  # the meta page's file id: device, inode, time and a counter


def settle(data: bytes, fileid: bytes) -> bytes:
    """A `db_load`ed hash database made deterministic: its file id (which BDB makes from the
    file's inode and the clock, and uses only to share a cache) becomes `fileid`, and the
    three unused bytes of each off-page item and each page's free space, which `db_load`
    leaves as whatever memory held, zero. The file is in the host's byte order."""
    order = "<" if sys.byteorder == "little" else ">"
    page_size = struct.unpack_from(order + "I", data, 20)[0]
    out = bytearray(data)
    out[_UID] = fileid[:20].ljust(20, b"\0")
    for page in range(page_size, len(data) - page_size + 1, page_size):
        entries, used = struct.unpack_from(order + "HH", data, page + 20)
        if data[page + 25] == _P_OVERFLOW:  # `used` bytes of data after the header
            out[page + _OVERHEAD + used : page + page_size] = bytes(page_size - _OVERHEAD - used)
        if data[page + 25] != _P_HASH:
            continue
        free = page + _OVERHEAD + 2 * entries  # the item offsets grow up, items down
        out[free : page + used] = bytes(max(0, page + used - free))
        for i in range(entries):
            item = page + struct.unpack_from(order + "H", data, page + _OVERHEAD + 2 * i)[0]
            if item + 4 <= page + page_size and data[item] == _H_OFFPAGE:
                out[item + 1 : item + 4] = b"\0\0\0"
    return bytes(out)


def load_argv(command: str, dump: Path, dest: Path) -> list[str]:
    return [command, "-f", str(dump), str(dest)]


def verify_argv(command: str, path: Path) -> list[str]:
    return [command, "-q", str(path)]


def host_query_argv(root: Path, backend: str | None) -> list[str]:
    """The build host's rpm reading the image's rpmdb (`bdb_ro`: Debian's and Fedora's rpm
    read Berkeley DB read-only)."""
    define = ["--define", f"_db_backend {backend}"] if backend else []
    return [
        "rpm",
        "--root",
        str(root),
        "--dbpath",
        manifest.DBPATH,
        *define,
        "-qa",
        "--qf",
        HOST_QF,
    ]


def chroot_argv(root: Path, rpm: str, *args: str) -> list[str]:
    return ["chroot", str(root), "/" + rpm, *args]


def rebuild_argv(root: Path, rpm: str) -> list[str]:
    return chroot_argv(root, rpm, "--rebuilddb")


def image_query_argv(root: Path, rpm: str) -> list[str]:
    return chroot_argv(root, rpm, "-qa", "--qf", IMAGE_QF)


def parse_list(text: str, who: str) -> set[Installed]:
    """`rpm -qa` lines (NAME EPOCH VERSION RELEASE ARCH [SHA1HEADER], tab-separated)."""
    found: set[Installed] = set()
    for raw in text.splitlines():
        if not raw.strip():
            continue
        fields = raw.split("\t")
        if len(fields) not in (5, 6):
            raise OperationError(f"rpmdb: unexpected line from {who}'s rpm -qa: {raw!r}")
        name, epoch, version, release, arch = fields[:5]
        epoch = "" if epoch in ("(none)", "0") else f"{epoch}:"
        sha1 = fields[5] if len(fields) == 6 else None
        found.add(Installed(f"{name}-{epoch}{version}-{release}.{arch}", sha1))
    return found


def differences(expected: set[Installed], found: set[Installed], who: str) -> str | None:
    """What `who` lists differently from what dnf installed, as one line, or None."""
    if expected == found:
        return None
    missing = sorted(p.nevra for p in expected - found)
    extra = sorted(p.nevra for p in found - expected)
    parts = []
    if missing:
        parts.append(f"does not list {', '.join(missing)}")
    if extra:
        parts.append(f"lists {', '.join(extra)}, which dnf did not install")
    same = {p.nevra for p in expected} == {p.nevra for p in found}
    if same:
        parts.append("lists other SHA1HEADERs than dnf's database (a header changed)")
    return f"rpmdb: {who} " + "; ".join(parts)


def differences_nevra(expected: set[Installed], found: set[Installed], who: str) -> str | None:
    return differences({Installed(p.nevra) for p in expected}, found, who)


def writer(name: str) -> str:
    """The installed command of a BDB tool (`db5.3_load` on Debian, `db_load` on EL)."""
    tool = tools.lookup(name) or tools.Tool(name, "", "db5.3-util", "libdb-utils")
    for command in tool.commands():
        if runner.which(command):
            return command
    raise ToolMissing(tool.name, tool.install_hint())


def require_writer(backend: str) -> None:
    """Before anything is downloaded: the tools the conversion needs, on a host that needs it."""
    if backend != "bdb":
        writer("db5.3_load")
        writer("db5.3_verify")


def read_sqlite(path: Path) -> list[tuple[int, bytes]]:
    try:
        con = sqlite3.connect(path)
        try:
            rows = con.execute("SELECT hnum, blob FROM Packages ORDER BY hnum").fetchall()
        finally:
            con.close()
    except sqlite3.Error as exc:
        raise OperationError(f"rpmdb: cannot read dnf's database {path}: {exc}") from exc
    return [(int(hnum), bytes(blob)) for hnum, blob in rows]


def convert(dbdir: Path, when: int | None = None) -> None:
    """dnf's sqlite rpmdb in `dbdir` becomes a BDB `Packages`; the sqlite files go."""
    sqlite = dbdir / SQLITE_FILES[0]
    if not sqlite.is_file():
        raise OperationError(
            f"rpmdb: dnf left no {sqlite.name} in {dbdir}: the conversion reads sqlite rpmdbs"
            " (the host's rpm writes another backend); build on a host whose rpm writes"
            " sqlite or bdb"
        )
    headers = read_sqlite(sqlite)
    dump, new = dbdir / ".Packages.load", dbdir / ".Packages.new"
    new.unlink(missing_ok=True)
    try:
        with dump.open("wb") as out:
            out.writelines(load_input(headers, str(sqlite), when=when))
        runner.run(load_argv(writer("db5.3_load"), dump, new), timeout=TIMEOUT)
        runner.run(verify_argv(writer("db5.3_verify"), new), timeout=TIMEOUT)
    except BaseException:  # the tool's own error names it (and a full disk, for the builder)
        new.unlink(missing_ok=True)
        raise
    finally:
        dump.unlink(missing_ok=True)
    new.write_bytes(settle(new.read_bytes(), hashlib.sha256(b"rpmdb %d" % (when or 0)).digest()))
    new.chmod(0o644)  # as EL's rpm makes it (users run rpm -qa), whatever the build's umask
    new.replace(dbdir / PACKAGES)
    for name in SQLITE_FILES:
        (dbdir / name).unlink(missing_ok=True)


def image_rpm(root: Path) -> str | None:
    """The image's own rpm, relative to its root (never through a link out of the root)."""
    for rel in IMAGE_RPMS:
        path = root / rel
        if not (root / rel.split("/")[0]).is_symlink() and path.is_file():
            return rel
    return None


def remove_environment(dbdir: Path) -> None:
    """BDB's `__db.*` environment files are specific to one BDB version: never ship them."""
    for found in dbdir.glob("__db.*"):
        found.unlink()


def host_list(root: Path, backend: str | None) -> set[Installed]:
    text = runner.run(host_query_argv(root, backend), timeout=TIMEOUT).text
    return parse_list(text, "the build host")


def rebuild_in_image(root: Path, rpm: str, wrap: Sequence[str]) -> set[Installed]:
    """The image's own `rpm --rebuilddb` in a chroot, then its own `rpm -qa`."""
    try:
        runner.run([*wrap, *rebuild_argv(root, rpm)], timeout=TIMEOUT)
        text = runner.run([*wrap, *image_query_argv(root, rpm)], timeout=TIMEOUT).text
    except ToolError as exc:
        if "No space left on device" in exc.stderr:
            raise  # the builder names the full disk
        raise OperationError(
            f"rpmdb: the image's own rpm (/{rpm}) failed on the converted database in a"
            f" chroot: {exc}"
        ) from exc
    return parse_list(text, "the image")


def make_native(root: Path, backend: str, wrap: Sequence[str] = (), when: int | None = None) -> str:
    """Leave in `root` the rpmdb EL6/EL7's rpm reads, install times set to `when` (when
    converted); return its backend ("bdb")."""
    dbdir = root / manifest.DBPATH.lstrip("/")
    expected = host_list(root, None)
    if not expected:
        raise OperationError(f"rpmdb: the host's rpm lists no packages in {dbdir}")
    if backend != "bdb":
        convert(dbdir, when)
        problem = differences(expected, host_list(root, "bdb_ro"), "the converted database")
        if problem:
            raise OperationError(problem + " (read by the host's rpm, bdb_ro)")
    rpm = image_rpm(root)
    if rpm is not None:
        found = rebuild_in_image(root, rpm, wrap)
        problem = differences_nevra(expected, found, f"the image's own rpm (/{rpm})")
        if problem:
            raise OperationError(
                problem + " after `rpm --rebuilddb`: it skipped headers it cannot read, or is"
                " not the rpm of this EL"
            )
    remove_environment(dbdir)
    if any(os.path.lexists(dbdir / name) for name in SQLITE_FILES):
        raise OperationError(f"rpmdb: sqlite files are left in {dbdir}")
    return "bdb"
