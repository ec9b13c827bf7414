"""A `Plan` as text for a terminal, markdown for a PR comment, JSON, or GitHub matrices."""

from __future__ import annotations

import json
from collections.abc import Sequence

from release.channels.plan import Plan
from release.channels.resolve import Release

FORMATS = ("text", "markdown", "json", "github-matrix")
MATRICES = ("builds", "channels")


def render(plan: Plan, fmt: str, matrix: str = "builds") -> str:
    if fmt == "text":
        return text(plan)
    if fmt == "markdown":
        return markdown(plan)
    if fmt == "json":
        return json.dumps(plan.to_dict(), indent=2, sort_keys=True)
    if fmt == "github-matrix":
        chosen = plan.build_matrix() if matrix == "builds" else plan.channel_matrix()
        return json.dumps(
            chosen, separators=(",", ":"), sort_keys=True
        )  # one line for $GITHUB_OUTPUT
    raise ValueError(f"unknown format {fmt!r}")


def _ref(ref: str | None, revision: str | None) -> str:
    if revision is None:
        return "nothing released"
    short = revision[:12]
    return f"{ref} ({short})" if ref and ref != revision else short


def _was(release: Release | None) -> str:
    return str(release) if release else "-"


def text(plan: Plan) -> str:
    lines = [f"plan: {_ref(plan.base_ref, plan.base)} -> {_ref(plan.head_ref, plan.head)}"]
    lines += [f"warning: {w}" for w in plan.warnings]
    if plan.empty:
        lines.append("nothing to do: no builds, no channels to publish")
        return "\n".join(lines)
    sections: list[tuple[str, list[str]]] = [
        ("build", [f"{b.image} {b.version} {b.variant}" for b in plan.builds]),
        (
            "publish",
            [
                f"{p.channel}: {p.release} (was {_was(p.previous)}) to {', '.join(p.targets)}"
                f" [{', '.join(p.reasons)}]"
                for p in plan.publishes
            ],
        ),
        (
            "promote",
            [
                f"{p.channel}: {p.release} from {p.source} (was {_was(p.previous)})"
                for p in plan.promotions
            ],
        ),
        ("rollback", [f"{r.channel}: {r.release} (was {r.previous})" for r in plan.rollbacks]),
        (
            "index",
            [f"{u.channel} on {', '.join(u.targets)} [{u.reason}]" for u in plan.index_updates],
        ),
    ]
    for title, items in sections:
        if items:
            lines.append(f"{title} ({len(items)}):")
            lines += [f"  {item}" for item in items]
    return "\n".join(lines)


def _table(headers: Sequence[str], rows: list[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ") or " "


def markdown(plan: Plan) -> str:
    base, head = _ref(plan.base_ref, plan.base), _ref(plan.head_ref, plan.head)
    out = [f"### Release plan: `{base}` → `{head}`", ""]
    out += [f"> **Warning:** {_cell(w)}" for w in plan.warnings]
    if plan.warnings:
        out.append("")
    if plan.empty:
        out.append("Nothing to do: no builds, no channels to publish.")
        return "\n".join(out)
    tables: list[tuple[str, Sequence[str], list[Sequence[str]]]] = [
        ("Builds", ("image", "version", "variant"),
         [(b.image, b.version, b.variant) for b in plan.builds]),
        ("Channels to publish", ("channel", "release", "was", "targets", "why"),
         [(p.channel, str(p.release), _was(p.previous), ", ".join(p.targets), ", ".join(p.reasons))
          for p in plan.publishes]),
        ("Promotions", ("channel", "release", "from", "was"),
         [(p.channel, str(p.release), p.source, _was(p.previous)) for p in plan.promotions]),
        ("Rollbacks", ("channel", "release", "was"),
         [(r.channel, str(r.release), str(r.previous)) for r in plan.rollbacks]),
        ("Index updates", ("channel", "targets", "why"),
         [(u.channel, ", ".join(u.targets), u.reason) for u in plan.index_updates]),
    ]  # fmt: skip
    for title, headers, rows in tables:
        if rows:
            out += [f"**{title}** ({len(rows)})", "", *_table(headers, rows), ""]
    return "\n".join(out).rstrip() + "\n"
