"""The tests mirror the package: every package under release/ has tests/<package>/ with an
`__init__.py` and at least one test module; chaos/ and hostile/ are the cross-cutting suites.

A package added without its test folder fails here, by name."""

from __future__ import annotations

from pathlib import Path

import pytest

import release

RELEASE = Path(release.__file__).parent
TESTS = Path(__file__).parent
NOT_CODE = ("data",)  # package data (templates, the demo's files), not a Python package
CROSS_CUTTING = ("chaos", "hostile")


def packages(root: Path) -> list[Path]:
    """The package folders below `root` (not `root` itself), relative to it, outermost first."""
    return sorted(
        init.parent.relative_to(root)
        for init in root.rglob("__init__.py")
        if init.parent != root and init.relative_to(root).parts[0] not in NOT_CODE
    )


def lacks(folder: Path) -> list[str]:
    """What `folder` lacks to be a test package; empty when it is one."""
    if not folder.is_dir():
        return ["is missing"]
    problems = []
    if not (folder / "__init__.py").is_file():
        problems.append("has no __init__.py")
    if not any(folder.glob("test_*.py")):
        problems.append("has no test_*.py")
    return problems


def test_the_package_is_found() -> None:
    found = {path.as_posix() for path in packages(RELEASE)}
    assert {"channels", "cli", "config", "integrity", "model", "publish", "render"} <= found
    assert "data" not in found and not any(name.startswith("data/") for name in found)


@pytest.mark.parametrize("package", packages(RELEASE), ids=lambda path: path.as_posix())
def test_every_package_has_its_test_folder(package: Path) -> None:
    folder = TESTS / package
    assert lacks(folder) == [], f"tests/{package.as_posix()}/ {lacks(folder)}"


@pytest.mark.parametrize("suite", CROSS_CUTTING)
def test_the_cross_cutting_suites_exist(suite: str) -> None:
    assert lacks(TESTS / suite) == []


def test_a_package_without_tests_is_caught(tmp_path: Path) -> None:
    code, tests = tmp_path / "release", tmp_path / "tests"
    for folder in ("release/cli", "release/cli/sub", "release/new", "release/data/x"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "__init__.py").touch()
    (tmp_path / "release/__init__.py").touch()
    (tests / "cli/sub").mkdir(parents=True)
    for file in ("cli/__init__.py", "cli/test_a.py", "cli/sub/__init__.py", "new/test_b.py"):
        (tests / file).parent.mkdir(parents=True, exist_ok=True)
        (tests / file).touch()
    found = packages(code)
    assert [path.as_posix() for path in found] == ["cli", "cli/sub", "new"]
    assert {path.as_posix(): lacks(tests / path) for path in found} == {
        "cli": [],
        "cli/sub": ["has no test_*.py"],
        "new": ["has no __init__.py"],
    }
    assert lacks(tests / "other") == ["is missing"]
