"""`release init`: a config repo of one's own that passes `release check` at once, and the
package as users get it (wheel and sdist, `twine check`, installed into a fresh venv)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from release import __version__
from release.config.scaffold import files, scaffold
from release.errors import InvalidInput
from tests.conftest import ROOT

BIN = Path(sys.executable).parent


def run(argv: list[str], cwd: Path | None = None, timeout: int = 300) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          check=False)  # fmt: skip
    assert done.returncode == 0, f"{argv}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def commit_all(repo: Path) -> None:
    identity = ["-c", "user.name=T", "-c", "user.email=t@example.invalid"]
    run(["git", "add", "-A"], cwd=repo)
    run(["git", *identity, "commit", "-q", "-m", "initial config"], cwd=repo)


def test_the_scaffold_ships_this_repositorys_own_example_files() -> None:
    scaffolded = files()
    for name in ("images/centos-7-genericcloud.yaml", "channels/el7-testing.yaml",
                 "channels/el7-stable.yaml", "targets/local.yaml", "keys/trust.yaml",
                 "keys/README.md"):  # fmt: skip
        assert scaffolded[name] == (ROOT / name).read_bytes(), f"{name} drifted from the example"


def test_the_workflows_install_this_version_from_the_package_and_run_each_step() -> None:
    scaffolded = files()
    workflows = {n: scaffolded[n].decode() for n in scaffolded if n.startswith(".github/")}
    assert set(workflows) == {f".github/workflows/{n}.yml" for n in ("pr", "release", "resign")}
    runs = ""
    for text in workflows.values():
        assert f'pip install "image-release=={__version__}"' in text and "@" not in text.replace(
            "@v", ""
        ).replace("@users", "")
        workflow = YAML(typ="safe").load(text)
        runs += "\n".join(s.get("run", "") for j in workflow["jobs"].values() for s in j["steps"])
        assert "secrets." not in runs
    for step in ("release check", "release plan", "reconcile", "release resign"):
        assert step in runs


def test_init_refuses_to_write_over_existing_files(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "centos-7-genericcloud.yaml").write_text("mine")
    with pytest.raises(InvalidInput, match="already exist"):
        scaffold(tmp_path)
    assert not (tmp_path / "channels").exists()  # nothing half-written


def test_init_then_check_passes_and_the_workflows_are_actionlint_clean(tmp_path: Path) -> None:
    repo = tmp_path / "images-config"
    run([str(BIN / "release"), "init", str(repo)])
    assert (repo / ".git").is_dir() and (repo / ".gitignore").is_file()
    out = run([str(BIN / "release"), "check"], cwd=repo)
    assert "ok: 1 images, 2 channels, 1 targets" in out
    workflows = sorted(str(p) for p in (repo / ".github" / "workflows").glob("*.yml"))
    run([str(BIN / "actionlint"), "-no-color", *workflows])


@pytest.mark.slow
def test_the_wheel_installs_into_a_fresh_venv_and_runs_check_and_plan(tmp_path: Path) -> None:
    """Offline: the wheel goes in with --no-deps; its dependencies come from this venv's
    site-packages through a .pth line (this venv's own editable install is not activated)."""
    source = tmp_path / "src"
    listed = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    tracked = run(listed, cwd=ROOT).split("\0")
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((ROOT / name).read_bytes())
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)])
    built = sorted(p.name for p in dist.iterdir())
    assert built == [f"image_release-{__version__}-py3-none-any.whl",
                     f"image_release-{__version__}.tar.gz"]  # fmt: skip
    assert "PASSED" in run([str(BIN / "twine"), "check", *(str(dist / n) for n in built)])

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    site = next((venv / "lib").glob("python3*/site-packages"))
    deps = next(p for p in sys.path if p.endswith("site-packages") and str(BIN.parent) in p)
    (site / "deps.pth").write_text(deps + "\n")
    run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
         "--no-deps", "--no-index", str(dist / built[0])])  # fmt: skip
    where = run([str(venv / "bin" / "python"), "-c", "import release; print(release.__file__)"],
                cwd=tmp_path)  # fmt: skip
    assert where.startswith(str(site)), where  # the wheel's copy, not this checkout

    repo = tmp_path / "images-config"
    env_path = f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"
    run([str(venv / "bin" / "release"), "init", str(repo)])
    commit_all(repo)
    assert "ok: 1 images" in run([str(venv / "bin" / "release"), "check"], cwd=repo)
    plan = subprocess.run([str(venv / "bin" / "release"), "plan"], cwd=repo, text=True,
                          capture_output=True, timeout=120, env={**os.environ, "PATH": env_path},
                          check=False)  # fmt: skip
    assert plan.returncode == 0, plan.stderr
    assert "centos-7-genericcloud" in plan.stdout and "el7-testing" in plan.stdout
