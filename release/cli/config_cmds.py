"""Commands about the config repo and the host: check, schema, doctor."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
