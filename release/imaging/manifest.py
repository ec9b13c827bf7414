"""The package manifest of a built image, read from the image's own rpmdb by the host's rpm.

One line per package, `NAME EPOCH VERSION RELEASE ARCH`, sorted; the same as JSON for the
release manifest.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from release import fsutil, runner
from release.errors import OperationError
from release.integrity.manifest import Package

DBPATH = "/var/lib/rpm"
_QF = r"%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n"


def query_argv(root: Path, backend: str | None = None) -> list[str]:
    # %{EPOCH} prints "(none)"; EPOCHNUM prints 0.
    define = ["--define", f"_db_backend {backend}"] if backend else []
    return ["rpm", "--root", str(root), "--dbpath", DBPATH, *define, "-qa", "--qf", _QF]


def host_backend() -> str:
    """The backend the build host's rpm writes (`bdb` when the macro is unset: rpm < 4.16)."""
    return runner.run(["rpm", "--eval", "%{?_db_backend}%{!?_db_backend:bdb}"]).text.strip()


def reader(root: Path) -> str | None:
    """How the host's rpm opens the image's rpmdb: a Berkeley DB one (EL6/EL7) read-only
    (`bdb_ro`) on a host whose rpm writes sqlite (Debian, Fedora 33+), as is otherwise."""
    db = root / DBPATH.lstrip("/")
    if (db / "Packages").is_file() and not (db / "rpmdb.sqlite").exists():
        return None if host_backend() == "bdb" else "bdb_ro"
    return None


def parse(text: str) -> list[Package]:
    packages: list[Package] = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        fields = raw.split("\t")
        if len(fields) != 5:
            raise OperationError(f"unexpected line from rpm -qa: {raw!r}")
        name, epoch, version, release, arch = fields
        packages.append(
            Package(name=name, epoch=int(epoch), version=version, release=release, arch=arch)
        )
    return sorted(packages, key=Package.fields)


def to_text(packages: list[Package]) -> str:
    return "".join(p.line() + "\n" for p in packages)


def to_json(packages: list[Package]) -> str:
    return json.dumps({"packages": [p.model_dump() for p in packages]}, indent=2) + "\n"


def read_tree(root: Path) -> list[Package]:
    return parse(runner.run(query_argv(root, reader(root))).text)


def read_disk(raw: Path, fs_spec: str) -> list[Package]:
    """Copy the rpmdb out of the image with debugfs (no mount) and query that copy."""
    with tempfile.TemporaryDirectory(prefix="release-rpmdb-") as tmp:
        dest = Path(tmp, "var", "lib")
        dest.mkdir(parents=True)
        runner.run(["debugfs", "-R", f"rdump {DBPATH} {dest}", f"{raw}{fs_spec}"])
        if not (dest / "rpm").is_dir():
            raise OperationError(f"{raw} has no rpmdb at {DBPATH}")
        packages = read_tree(Path(tmp))
    if not packages:
        raise OperationError(f"the rpmdb in {raw} lists no packages")
    return packages


def write(packages: list[Package], text_path: Path, json_path: Path) -> None:
    fsutil.write_text(text_path, to_text(packages))
    fsutil.write_text(json_path, to_json(packages))
