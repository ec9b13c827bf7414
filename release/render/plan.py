"""A `Plan` as text for a terminal, markdown for a PR comment, JSON, or GitHub matrices."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from release.channels.plan import Plan
from release.channels.resolve import Release

FORMATS = ("text", "markdown", "json", "github-matrix")
MATRICES = ("builds", "channels")

Row = tuple[str, ...]


def render(plan: Plan, fmt: str, matrix: str = "builds") -> str:
    if fmt == "text":
        return text(plan)
    if fmt == "markdown":
        return markdown(plan)
    if fmt == "json":
        return json.dumps(plan.to_dict(), indent=2, sort_keys=True)
    if fmt == "github-matrix":
        chosen = plan.build_matrix() if matrix == "builds" else plan.channel_matrix()
        # One line, no spaces: it goes into $GITHUB_OUTPUT and is compared as a string.
        return json.dumps(chosen, separators=(",", ":"), sort_keys=True)
    raise ValueError(f"unknown format {fmt!r}")


def _ref(ref: str | None, revision: str | None) -> str:
    if revision is None:
        return "nothing released"
    short = revision[:12]
    return f"{ref} ({short})" if ref and ref != revision else short


def _was(previous: Release | None, now: Release) -> str:
    """The previous release, as its version alone when the image is the same."""
    if previous is None:
        return "-"
    return previous.version if previous.image == now.image else str(previous)


def _sections(plan: Plan) -> list[tuple[str, Row, list[Row]]]:
    """(title, column names, rows) for each kind of action, shared by text and markdown."""
    return [
        ("Builds", ("image", "version", "variant"),
         [(b.image, b.version, b.variant) for b in plan.builds]),
        ("Channels to publish", ("channel", "release", "was", "targets", "why"),
         [(p.channel, str(p.release), _was(p.previous, p.release), ", ".join(p.targets),
           ", ".join(p.reasons)) for p in plan.publishes]),
        ("Promotions", ("channel", "release", "from", "was"),
         [(p.channel, str(p.release), p.source, _was(p.previous, p.release))
          for p in plan.promotions]),
        ("Rollbacks", ("channel", "release", "was"),
         [(r.channel, str(r.release), r.previous.version) for r in plan.rollbacks]),
        ("Index updates", ("channel", "targets", "why"),
         [(u.channel, ", ".join(u.targets), u.reason) for u in plan.index_updates]),
    ]  # fmt: skip


def text(plan: Plan) -> str:
    lines = [f"plan: {_ref(plan.base_ref, plan.base)} -> {_ref(plan.head_ref, plan.head)}"]
    lines += [f"warning: {w}" for w in plan.warnings]
    if plan.empty:
        lines.append("nothing to do: no builds, no channels to publish")
        return "\n".join(lines)
    for title, headers, rows in _sections(plan):
        if rows:
            lines.append(f"{title.lower()} ({len(rows)}):")
            lines += ["  " + "  ".join(f"{h}={v}" if i else v for i, (h, v) in
                                        enumerate(zip(headers, row, strict=True)))
                      for row in rows]  # fmt: skip
    return "\n".join(lines)


def _table(headers: Sequence[str], rows: list[Row]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ") or " "


def _code(text: str) -> str:
    """A markdown code span that holds any text: git allows a backtick in a ref name."""
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def markdown(plan: Plan) -> str:
    base, head = _ref(plan.base_ref, plan.base), _ref(plan.head_ref, plan.head)
    out = [f"### Release plan: {_code(base)} → {_code(head)}", ""]
    out += [f"> **Warning:** {_cell(w)}" for w in plan.warnings]
    if plan.warnings:
        out.append("")
    if plan.empty:
        out.append("Nothing to do: no builds, no channels to publish.")
        return "\n".join(out) + "\n"
    for title, headers, rows in _sections(plan):
        if rows:
            out += [f"**{title}** ({len(rows)})", "", *_table(headers, rows), ""]
    return "\n".join(out).rstrip() + "\n"
