"""Commands about channels: plan, promote, rollback."""

from __future__ import annotations

import click

from release.channels.plan import plan
from release.channels.promote import PinResult, promote, rollback
from release.cli.output import emit, json_option
from release.render.plan import FORMATS, MATRICES, render

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


BRANCH_OPTION = click.option(
    "--branch", help="Name of the new branch (default: promote/ or rollback/<channel>-<version>)."
)
CURRENT_OPTION = click.option(
    "--on-current-branch", "current", is_flag=True,
    help="Commit on the checked-out branch instead of a new one.",
)  # fmt: skip


@click.command("promote")
@REPO_OPTION
@click.option("--from", "source", required=True, help="The channel whose release to take.")
@click.option("--to", "target", required=True, help="The channel to pin to that release.")
@click.option(
    "--at",
    help="Take the source's release at this revision (default: the last release/* tag;"
    " HEAD: the config as committed, released or not).",
)
@BRANCH_OPTION
@CURRENT_OPTION
@json_option
def promote_cmd(
    repo: str,
    source: str,
    target: str,
    at: str | None,
    branch: str | None,
    current: bool,
    as_json: bool,
) -> None:
    """Pin the release users of --from have into --to's channel file, as a commit for a PR.

    Only the version line of the channel file changes; comments and layout are kept.
    """
    result = promote(repo, source, target, branch, current, at)
    emit(result.to_dict(), as_json, lambda: _pin_text(result))


@click.command("rollback")
@REPO_OPTION
@click.option("--channel", required=True, help="The channel to roll back.")
@click.option("--to", "version", required=True, help="An earlier version of the channel's image.")
@BRANCH_OPTION
@CURRENT_OPTION
@json_option
def rollback_cmd(
    repo: str, channel: str, version: str, branch: str | None, current: bool, as_json: bool
) -> None:
    """Pin CHANNEL back to an earlier VERSION of its image (no rebuild), as a commit.

    VERSION must be one the image definition had in git history.
    """
    result = rollback(repo, channel, version, branch, current)
    emit(result.to_dict(), as_json, lambda: _pin_text(result))


def _pin_text(result: PinResult) -> str:
    pin = result.pin
    line = (
        f"{pin.channel}: {pin.previous.version} -> {pin.release.version} ({pin.release.image}),"
        f" commit {result.commit[:12]} on {result.branch}"
    )
    if result.on_current_branch:
        return line
    return f"{line}\nnext: git push origin {result.branch}, then open a pull request"


COMMANDS: list[click.Command] = [plan_cmd, promote_cmd, rollback_cmd]
