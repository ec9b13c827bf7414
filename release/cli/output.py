"""Rendering results: human text by default, JSON with --json."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")(func)


def attempts_option(func: F) -> F:
    """The publish retry budget, the same for push, publish and reconcile."""
    return click.option(
        "--attempts",
        type=click.IntRange(1, 100),
        default=8,
        show_default=True,
        help="Attempts per network call before giving up.",
    )(func)


def emit(data: Any, as_json: bool, text: Callable[[], str]) -> None:
    """Print `data` as JSON, or the human text that `text()` renders."""
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        click.echo(text())
