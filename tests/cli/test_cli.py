"""The CLI as a user runs it: exit codes, no tracebacks for user errors, doctor, schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from release.model.schema import KINDS, schema

ROOT = Path(__file__).resolve().parents[2]


def release(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "release", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_check_on_shipped_config_exits_0() -> None:
    result = release("check")
    assert result.returncode == 0, result.stderr
    assert "ok: 2 images, 4 channels, 1 targets" in result.stdout


def test_user_error_is_one_line_and_exit_2(config_repo: Path) -> None:
    (config_repo / "images/centos-7-genericcloud.yaml").write_text("name: [\n")
    result = release("check", "--repo", str(config_repo))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "malformed YAML" in result.stdout
    assert "problems found" in result.stderr


def test_verbose_shows_the_traceback(config_repo: Path) -> None:
    (config_repo / "images/centos-7-genericcloud.yaml").write_text("name: [\n")
    result = release("--verbose", "check", "--repo", str(config_repo))
    assert result.returncode == 2 and "Traceback" in result.stderr


def test_missing_repo_is_invalid_input(tmp_path: Path) -> None:
    result = release("check", "--repo", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert "no such directory" in result.stderr and "Traceback" not in result.stderr


def test_unknown_option_is_a_usage_error() -> None:
    assert release("check", "--nope").returncode == 2


def test_doctor_reports_tools_truthfully() -> None:
    result = release("doctor", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    tools = {t["name"]: t for t in json.loads(result.stdout)}
    for name in ("git", "gpg", "qemu-img", "tar", "rpm", "dnf"):
        assert tools[name]["found"] is True
        assert tools[name]["version"]
    assert "qemu-img version" in tools["qemu-img"]["version"]
    for name in ("db5.3_load", "db5.3_verify"):  # the EL6/EL7 rpmdb's writer, on Debian
        assert tools[name]["found"] is True and tools[name]["required"] is True
        assert tools[name]["debian_package"] == "db5.3-util"
        assert tools[name]["fedora_package"] == "libdb-utils"
        assert tools[name]["version"].startswith("Berkeley DB 5.3")


def test_doctor_names_the_rpmdb_writer_and_its_packages(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to("/usr/bin/git")
    (bin_dir / "db_load").symlink_to("/usr/bin/db5.3_load")  # the name on Fedora/EL
    shown = release("doctor", env={"PATH": str(bin_dir)}).stdout
    assert "ok       db5.3_load" in shown
    assert "MISSING  db5.3_verify" in shown
    assert "Debian/Ubuntu: db5.3-util; Fedora/EL: libdb-utils" in shown


def test_doctor_names_packages_of_missing_tools(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to("/usr/bin/git")
    result = release("doctor", env={"PATH": str(bin_dir)})
    assert result.returncode == 1
    assert "MISSING  qemu-img" in result.stdout
    assert "Debian/Ubuntu: qemu-utils; Fedora/EL: qemu-img" in result.stdout
    assert "ok       git" in result.stdout
    assert "missing tools:" in result.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_shipped_schema_is_current(kind: str) -> None:
    shipped = json.loads((ROOT / "docs/schema" / f"{kind}.schema.json").read_text())
    assert shipped == schema(kind), "run: release schema --out docs/schema"


@pytest.mark.parametrize(
    ("kind", "folder"), [("image", "images"), ("channel", "channels"), ("target", "targets")]
)
def test_shipped_files_validate_against_the_schema(kind: str, folder: str) -> None:
    validator = jsonschema.Draft202012Validator(schema(kind))
    for path in sorted((ROOT / folder).glob("*.yaml")):
        data = YAML(typ="safe").load(path.read_text())
        if kind == "channel":
            data.setdefault("name", path.stem)
        validator.validate(data)


def test_every_package_folder_is_a_regular_package() -> None:
    """setuptools' find_packages skips folders without __init__.py: a wheel would lack them."""
    folders = {p.parent for p in (ROOT / "release").rglob("*.py")}
    assert [f for f in folders if not (f / "__init__.py").is_file()] == []


def test_doctor_requires_the_installer_a_kickstart_image_names(config_repo: Path) -> None:
    path = config_repo / "images/centos-7-genericcloud.yaml"
    path.write_text(path.read_text() + "builder: kickstart\ninstaller: livemedia-creator\n")
    result = release("doctor", "--repo", str(config_repo), "--json")
    tools = {t["name"]: t for t in json.loads(result.stdout)}
    assert tools["livemedia-creator"]["required"] is True
    assert tools["livemedia-creator"]["found"] is False
    assert "koji" not in tools and "mcopy" not in tools
    assert result.returncode == 1 and "livemedia-creator" in result.stderr


def test_every_command_module_is_registered() -> None:
    """A COMMANDS list that the CLI does not add is a feature nobody can reach."""
    import importlib
    import pkgutil

    import release.cli
    from release.cli import cli

    for info in pkgutil.iter_modules(release.cli.__path__):
        module = importlib.import_module(f"release.cli.{info.name}")
        for command in getattr(module, "COMMANDS", []):
            assert cli.commands.get(command.name) is command, f"{info.name}: {command.name}"
