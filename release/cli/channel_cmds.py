"""Commands about channels: plan, promote, rollback."""

from __future__ import annotations

import click

from release.channels.plan import plan
from release.channels.render import FORMATS, MATRICES, render

REPO_OPTION = click.option(
    "--repo",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="The config repo (a git working tree).",
)


@click.command("plan")
@REPO_OPTION
@click.option("--base", help="Compare with this revision (default: the last release/* tag).")
@click.option("--head", default="HEAD", show_default=True, help="The revision to release.")
@click.option("--empty-base", is_flag=True, help="Compare with the empty state (a first release).")
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
    help="text for a terminal, markdown for a PR comment, json, or a GitHub Actions matrix.",
)  # fmt: skip
@click.option(
    "--matrix", type=click.Choice(MATRICES), default="builds", show_default=True,
    help="With --format github-matrix: one job per build, or one per channel to publish.",
)  # fmt: skip
def plan_cmd(
    repo: str, base: str | None, head: str, empty_base: bool, fmt: str, matrix: str
) -> None:
    """Show what releasing HEAD would do: builds, channels to publish, promotions, rollbacks.

    Pure comparison of the desired state at two revisions; nothing is built or published.
    """
    if base and empty_base:
        raise click.UsageError("give --base or --empty-base, not both")
    result = plan(repo, base, head, empty_base=empty_base)
    click.echo(render(result, fmt, matrix), nl=fmt != "markdown")


COMMANDS: list[click.Command] = [plan_cmd]
