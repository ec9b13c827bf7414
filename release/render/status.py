"""`release status` as text: plain columns for logs and pipes, a rich table for a terminal."""

from __future__ import annotations

import io

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from release.channels.status import Row, Status

HEADERS = ("channel", "target", "desired", "published", "serial", "expires in", "drift", "action")


def _cells(row: Row) -> tuple[str, ...]:
    serial = "" if row.serial is None else str(row.serial)
    drift = "DRIFT" if row.drift else "in sync"
    return (
        row.channel,
        row.target,
        row.desired or "-",
        row.published or "-",
        serial,
        row.expires_in or "-",
        drift,
        row.action,
    )


def _footer(result: Status) -> str:
    if result.in_sync:
        return f"in sync at {result.revision[:12]}: every target has what git asks for"
    drifted = sum(row.drift for row in result.rows)
    return f"drift at {result.revision[:12]}: {drifted} of {len(result.rows)} differ"


def render_text(result: Status) -> str:
    """Plain columns, for logs, pipes and cron mail."""
    table = [HEADERS, *(_cells(row) for row in result.rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(HEADERS) - 1)]
    lines = [
        "  ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[-1]]).rstrip()
        for r in table
    ]
    lines.extend(
        f"  {r.channel} on {r.target}: {place} image {image}"
        for r in result.rows
        for place, image in sorted(r.images.items())
    )
    return "\n".join([*lines, _footer(result)])


def render_rich(result: Status, width: int | None = None) -> str:
    """A rich table, for a terminal."""
    table = Table(title=f"release status at {result.revision[:12]}")
    for header in HEADERS:
        table.add_column(header)
    for row in result.rows:
        cells = [escape(cell) for cell in _cells(row)]  # names are data, never markup
        cells[6] = "[bold red]DRIFT[/]" if row.drift else "[green]in sync[/]"
        if row.images:
            cells[3] = "\n".join(
                escape(f"{image} ({place})") for place, image in sorted(row.images.items())
            )
        table.add_row(*cells)
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=width)
    console.print(table)
    console.print(escape(_footer(result)))
    return buffer.getvalue().rstrip("\n")
