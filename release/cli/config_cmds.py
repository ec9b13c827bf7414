"""Commands about the config repo and the host: check, schema, doctor."""

from __future__ import annotations

import json
from pathlib import Path

import click

from release import fsutil
from release.cli.output import emit, json_option
from release.config.check import CheckReport, check
from release.config.loader import load
from release.config.scaffold import scaffold
from release.config.source import open_source
from release.doctor import ToolStatus, doctor
from release.errors import ExitCode, InvalidInput, ReleaseError
from release.integrity.keyinfo import read_key_bytes
from release.model.schema import KINDS, schema

REPO_OPTION = click.option(
    "--repo",
    default=".",
    show_default=True,
    help="Config repo: a directory or a git URL.",
)


class CheckFailed(ReleaseError):
    exit_code = ExitCode.INVALID


@click.command("check")
@REPO_OPTION
@click.option("--rev", help="Check this git revision instead of the working tree.")
@click.option("--base", help="Compare with this revision: versions must not go backwards.")
@json_option
def check_cmd(repo: str, rev: str | None, base: str | None, as_json: bool) -> None:
    """Validate the whole config repo and report every problem at once (exit 2 if any)."""
    report = check(repo, rev, base, keys=read_key_bytes)
    emit(report.to_dict(), as_json, lambda: _check_text(report))
    if not report.ok:
        count = len(report.problems)
        raise CheckFailed(f"{count} problem{'s' if count != 1 else ''} found")


def _check_text(report: CheckReport) -> str:
    lines = [f"error: {p}" for p in report.problems]
    lines += [f"warning: {p}" for p in report.warnings]
    if report.ok:
        lines.append(
            f"ok: {report.images} images, {report.channels} channels, {report.targets} targets,"
            f" {report.keys} trusted keys"
            + (f" at {report.revision[:12]}" if report.revision else "")
        )
    return "\n".join(lines)


@click.command("schema")
@click.argument("kind", type=click.Choice(KINDS), required=False)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write every schema as KIND.schema.json into this directory.",
)
def schema_cmd(kind: str | None, out: Path | None) -> None:
    """Print the JSON Schema of a config file kind (image, channel, target, trust)."""
    if out is not None:
        if not out.is_dir():
            raise InvalidInput(f"{out}: no such directory")
        for each in KINDS:
            text = json.dumps(schema(each), indent=2, sort_keys=True) + "\n"
            fsutil.write_text(out / f"{each}.schema.json", text)
        return
    if kind is None:
        raise InvalidInput("name a kind (image, channel, target, trust) or give --out DIR")
    click.echo(json.dumps(schema(kind), indent=2, sort_keys=True))


@click.command("doctor")
@REPO_OPTION
@json_option
def doctor_cmd(repo: str, as_json: bool) -> None:
    """List the external tools the configured pipeline needs, their versions, what is missing."""
    config = None
    if Path(repo, "images").is_dir():
        with open_source(repo) as source:
            config = load(source)
    report = doctor(config)
    emit([s.to_dict() for s in report], as_json, lambda: _doctor_text(report))
    missing = [s.tool.name for s in report if s.required and s.path is None]
    if missing:
        raise ReleaseError(f"missing tools: {', '.join(missing)}")


def _doctor_text(report: list[ToolStatus]) -> str:
    lines = []
    for status in report:
        need = "required" if status.required else "optional"
        if status.path:
            lines.append(f"ok       {status.tool.name:<20} {status.version}")
        else:
            lines.append(
                f"MISSING  {status.tool.name:<20} ({need}, {status.tool.purpose}):"
                f" Debian/Ubuntu: {status.tool.debian}; Fedora/EL: {status.tool.fedora}"
            )
    return "\n".join(lines)


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def init_cmd(directory: Path) -> None:
    """Scaffold a config repo of your own in DIRECTORY: a CentOS 7 image, its testing and
    stable channels, a mirror target, keys/ with trust.yaml, and GitHub workflows that install
    this version of image-release from its package and run check, plan, release and resign.
    `release check` passes in it at once."""
    written = scaffold(directory)
    click.echo("\n".join(f"  {name}" for name in written))
    click.echo(
        f"created {directory} ({len(written)} files). Next:\n"
        f"  cd {directory} && release check\n"
        "  add your release key to keys/ and keys/trust.yaml (keys/README.md)\n"
        "  git add -A && git commit -m 'initial config' && release plan"
    )


COMMANDS: list[click.Command] = [check_cmd, schema_cmd, doctor_cmd, init_cmd]
