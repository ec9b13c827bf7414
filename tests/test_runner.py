"""The command runner: argv lists, clear failures, pipelines, missing tools."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from release import runner
from release.errors import ToolError, ToolMissing


def test_output_is_captured() -> None:
    assert runner.run(["printf", "%s", "a b"]).text == "a b"


def test_argv_is_never_a_shell() -> None:
    assert runner.run(["echo", "$(id)", ";", "|"]).text == "$(id) ; |\n"


def test_failure_names_the_command_and_stderr_tail() -> None:
    script = "for i in $(seq 1 50); do echo line$i >&2; done; exit 3"
    with pytest.raises(ToolError) as caught:
        runner.run(["sh", "-c", script])
    message = str(caught.value)
    assert "exit code 3: sh -c" in message
    assert "line50" in message and "line40" not in message
    assert caught.value.returncode == 3


def test_missing_tool_names_its_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissing) as caught:
        runner.run(["qemu-img", "--version"])
    assert "apt-get install qemu-utils" in str(caught.value)
    assert "dnf install qemu-img" in str(caught.value)


def test_input_goes_to_stdin_not_argv() -> None:
    assert runner.run(["cat"], input=b"secret").stdout == b"secret"


def test_env_is_added() -> None:
    assert runner.run(["sh", "-c", "echo $X"], env={"X": "42"}).text == "42\n"


def test_pipeline_streams_between_commands(tmp_path: Path) -> None:
    out = io.BytesIO()
    with (tmp_path / "out").open("w+b") as sink:
        runner.pipeline([["printf", "b\\na\\n"], ["sort"]], stdout=sink)
        sink.seek(0)
        out.write(sink.read())
    assert out.getvalue() == b"a\nb\n"


def test_pipeline_failure_in_any_stage(tmp_path: Path) -> None:
    with (tmp_path / "out").open("wb") as sink, pytest.raises(ToolError) as caught:
        runner.pipeline([["sh", "-c", "echo boom >&2; exit 2"], ["cat"]], stdout=sink)
    assert "boom" in str(caught.value)


def test_version_of_missing_tool_is_none(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert runner.version("git") is None
