"""The `release` command: a thin layer that parses flags, calls the library, renders results.

Each topic's commands live in their own module and are added to the group below.
"""

from __future__ import annotations

import logging
import sys
import traceback

import click

from release import __version__
from release.cli import (
    build_cmds,
    channel_cmds,
    config_cmds,
    demo_cmds,
    formats_cmds,
    gitops_cmds,
    integrity_cmds,
    publish_cmds,
    rebuild_cmds,
    status_cmds,
)
from release.errors import ExitCode, ReleaseError


class _State:
    verbose = False


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log every step and show tracebacks.")
@click.version_option(__version__, prog_name="release")
def cli(verbose: bool) -> None:
    """GitOps release manager for cloud VM images.

    Exit codes: 0 success, 1 an operation failed, 2 invalid input or config,
    3 verification failed.
    """
    _State.verbose = verbose
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(message)s" if verbose else "%(message)s",
        stream=sys.stderr,
    )
    for noisy in ("botocore", "boto3", "urllib3", "git", "gnupg", "s3transfer", "google"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _register() -> None:
    for module in (
        config_cmds,
        build_cmds,
        formats_cmds,
        integrity_cmds,
        rebuild_cmds,
        publish_cmds,
        channel_cmds,
        gitops_cmds,
        status_cmds,
        demo_cmds,
    ):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    """Entry point: run the CLI; print a ReleaseError as its message and exit with its code."""
    try:
        code = cli.main(standalone_mode=False)  # a command's explicit exit code (ctx.exit)
    except ReleaseError as error:
        if _State.verbose:
            traceback.print_exc()
        click.echo(f"error: {error}", err=True)
        sys.exit(int(error.exit_code))
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(int(ExitCode.FAILED))
    except click.ClickException as error:
        error.show()
        sys.exit(int(ExitCode.INVALID) if error.exit_code == 2 else error.exit_code)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    sys.exit(code if type(code) is int else int(ExitCode.OK))
