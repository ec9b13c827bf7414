"""`python -m tests.publish.cli_entry push ...`: the real `release` entry point with push added.

The lead registers `release.cli.publish_cmds.COMMANDS` in `release/cli/__init__.py`; until
then the tests run the command through the same `main()` (error printing, exit codes).
"""

from __future__ import annotations

from release.cli import cli, main
from release.cli.publish_cmds import COMMANDS

for command in COMMANDS:
    if command.name not in cli.commands:
        cli.add_command(command)

if __name__ == "__main__":
    main()
