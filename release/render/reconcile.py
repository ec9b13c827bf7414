"""A reconcile or resign result as the lines `release reconcile` and `release resign` print."""

from __future__ import annotations

from release.channels.reconcile import ReconcileResult
from release.channels.resign import ResignResult


def render_reconcile(result: ReconcileResult) -> str:
    lines = [f"reconcile {result.revision[:12]}"]
    for channel in result.channels:
        built = " (built)" if channel.built else ""
        lines.append(f"  {channel.channel}: {channel.image} {channel.version}{built}")
        for t in channel.targets:
            serial = f" serial {t.serial}" if t.serial is not None else ""
            detail = f" - {t.detail}" if t.detail else ""
            lines.append(f"    {t.status:<10} {t.target}{serial}{detail}")
    lines.extend(f"  retired    {r} (its index left the snapshot)" for r in result.retired)
    lines.extend(f"warning: {w}" for w in result.warnings)
    if result.noop:
        lines.append("nothing to do: every target already has what git asks for")
    return "\n".join(lines)


def render_resign(result: ResignResult) -> str:
    lines = [f"  {r.status:<10} {r.channel} on {r.target}: {r.detail}" for r in result.indexes]
    return "\n".join(["resign", *lines]) if lines else "resign: no published index"
