"""`release status`: channels x targets, git against what is published; exit 1 on drift."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from release.channels.status import status
from release.cli.output import json_option
from release.errors import ExitCode
from release.publish.options import Options
from release.render.status import render_rich, render_text


@click.command("status")
@click.option(
    "--repo",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The config repo (a git working tree); HEAD is the desired state.",
)
@click.option("--endpoint-url", help="S3 endpoint for every S3 target.")
@json_option
def status_cmd(repo: Path, endpoint_url: str | None, as_json: bool) -> None:
    """Channels x targets: the release git asks for at HEAD against the published index
    (serial, version, time until expiry) and the registries' images; drift, and what
    `release reconcile` (or `release resign`) would do. Reads only.

    Exit 0 when every target is in sync, 1 on drift (for cron and monitoring)."""
    result = status(repo, options=Options(endpoint_url=endpoint_url))
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    elif sys.stdout.isatty():
        click.echo(render_rich(result))
    else:
        click.echo(render_text(result))
    if not result.in_sync:
        raise click.exceptions.Exit(int(ExitCode.FAILED))


COMMANDS: list[click.Command] = [status_cmd]
