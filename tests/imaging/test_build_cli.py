"""`release render` and `release build`, called through click (the lead registers them in
the `release` group; here a local group stands in)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from release.cli import build_cmds
from release.errors import ExitCode, InvalidInput, ReleaseError

ROOT = Path(__file__).resolve().parents[2]


@click.group()
def group() -> None:
    pass


for command in build_cmds.COMMANDS:
    group.add_command(command)


def config_with_fixture_image(tmp_path: Path, repo: Path) -> Path:
    config = tmp_path / "config"
    (config / "images").mkdir(parents=True)
    image = {
        "name": "tiny",
        "version": "1.0.0",
        "el": 7,
        "sources": [{"name": "local", "baseurl": f"file://{repo}", "gpgcheck": False}],
        "packages": ["filesystem", "busybox", "kernel", "openssh-server", "policycoreutils"],
        "disk": {"size": "64MiB"},
        "variants": {"openstack": {}, "cloudstack": {}},
    }
    with (config / "images" / "tiny.yaml").open("w") as fh:
        YAML().dump(image, fh)
    return config


def test_render_prints_a_validated_kickstart_per_variant() -> None:
    result = CliRunner().invoke(
        group, ["render", "centos-7-genericcloud", "--variant", "aws", "--repo", str(ROOT)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("# centos-7-genericcloud 7.9.2009.2, variant aws (aws)")
    assert result.output.count("%packages") == 1
    every = CliRunner().invoke(group, ["render", "centos-6-genericcloud", "--repo", str(ROOT)])
    assert every.output.count("%packages --nobase") == 4


def test_render_unknown_image_and_variant() -> None:
    result = CliRunner().invoke(group, ["render", "nope", "--repo", str(ROOT)])
    assert isinstance(result.exception, InvalidInput)
    assert "no image 'nope'" in str(result.exception)
    result = CliRunner().invoke(
        group, ["render", "centos-7-genericcloud", "--variant", "azure", "--repo", str(ROOT)]
    )
    assert isinstance(result.exception, ReleaseError)
    assert result.exception.exit_code == ExitCode.INVALID


def test_build_then_rebuild_from_cache(tmp_path: Path, el_repos: dict[int, Path]) -> None:
    config = config_with_fixture_image(tmp_path, el_repos[7])
    args = ["build", "tiny", "--repo", str(config), "--out", str(tmp_path / "out"), "--json"]
    first = CliRunner().invoke(group, args)
    assert first.exit_code == 0, first.output
    built = json.loads(first.output)
    assert [b["variant"] for b in built] == ["openstack", "cloudstack"]
    assert not any(b["cached"] for b in built)
    assert Path(built[0]["raw"]).is_file()
    assert (config / ".release" / "cache" / "builds" / built[0]["build_id"]).is_dir()
    again = CliRunner().invoke(group, [*args[:-1], "--variant", "cloudstack"])
    assert again.exit_code == 0
    assert "cloudstack   cached" in again.output


@pytest.mark.parametrize(
    ("packages", "message"),
    [(["filesystem", "nonexistent"], "no repo has the package(s) nonexistent")],
)
def test_build_bad_input(
    tmp_path: Path, el_repos: dict[int, Path], packages: list[str], message: str
) -> None:
    config = config_with_fixture_image(tmp_path, el_repos[7])
    text = (config / "images" / "tiny.yaml").read_text()
    doc = YAML().load(text)
    doc["packages"] = packages
    with (config / "images" / "tiny.yaml").open("w") as fh:
        YAML().dump(doc, fh)
    result = CliRunner().invoke(
        group, ["build", "tiny", "--repo", str(config), "--out", str(tmp_path / "o")]
    )
    assert isinstance(result.exception, InvalidInput)
    assert message in str(result.exception)


def test_build_with_relative_paths(
    tmp_path: Path, el_repos: dict[int, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    config_with_fixture_image(tmp_path, el_repos[7])
    monkeypatch.chdir(tmp_path)
    args = ["build", "tiny", "--repo", "config", "--out", "out", "--variant", "openstack"]
    result = CliRunner().invoke(group, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "tiny-1.0.0-openstack.raw").is_file()
    assert any((tmp_path / "config" / ".release" / "cache" / "builds").iterdir())


def test_build_install_tree_option(tmp_path: Path, el_repos: dict[int, Path]) -> None:
    config = config_with_fixture_image(tmp_path, el_repos[7])
    tree = tmp_path / "dvd"
    (tree / "images" / "pxeboot").mkdir(parents=True)
    (tree / "images" / "pxeboot" / "vmlinuz").write_bytes(b"k")
    args = ["build", "tiny", "--repo", str(config), "--out", str(tmp_path / "o")]
    args += ["--install-tree", str(tree), "--accel", "tcg", "--variant", "openstack"]
    result = CliRunner().invoke(group, args)
    assert isinstance(result.exception, InvalidInput)  # an installroot image boots nothing
    assert "not built by builder: kickstart with installer: qemu" in str(result.exception)
    path = config / "images" / "tiny.yaml"
    path.write_text(path.read_text() + "builder: kickstart\n")
    result = CliRunner().invoke(group, args)
    assert isinstance(result.exception, InvalidInput)
    assert f"install tree {tree}: no images/pxeboot/initrd.img" in str(result.exception)
    assert not (tmp_path / "o").exists()


def test_build_in_a_git_repo_uses_the_commit_time(
    tmp_path: Path, el_repos: dict[int, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without SOURCE_DATE_EPOCH, a build's clocks are the config commit's time."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    config = config_with_fixture_image(tmp_path, el_repos[7])
    env = {**os.environ, "GIT_COMMITTER_DATE": "@1700000000 +0000",
           "GIT_AUTHOR_DATE": "@1700000000 +0000"}  # fmt: skip
    for argv in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t",
                                                   "commit", "-qm", "c"]):  # fmt: skip
        subprocess.run(["git", *argv], cwd=config, env=env, check=True)
    args = ["build", "tiny", "--repo", str(config), "--out", str(tmp_path / "out"),
            "--variant", "openstack", "--json"]  # fmt: skip
    done = CliRunner().invoke(group, args)
    assert done.exit_code == 0, done.output
    build_id = json.loads(done.output)[0]["build_id"]
    record = json.loads((config / ".release/cache/builds" / build_id / "build.json").read_text())
    assert record["source_date_epoch"] == 1700000000
