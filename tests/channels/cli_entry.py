"""`python -m tests.channels.cli_entry reconcile ...`: the real `release` entry point
with the gitops commands added (the lead registers `release.cli.gitops_cmds.COMMANDS`)."""

from __future__ import annotations

from release.cli import cli, main
from release.cli.gitops_cmds import COMMANDS

for command in COMMANDS:
    if command.name not in cli.commands:
        cli.add_command(command)

if __name__ == "__main__":
    main()
