"""A verification result (of a release directory, or of a channel and its release) as text."""

from __future__ import annotations

from release.channels.verify import ChannelVerifyResult
from release.integrity.verify import VerifyResult


def count_problems(result: VerifyResult | ChannelVerifyResult) -> str:
    count = len(result.failures())
    return f"{count} problem{'s' if count != 1 else ''}"


def render_verify(result: VerifyResult) -> str:
    scope = f"channel {result.channel}" if result.channel else "any channel"
    what = f"{result.image} {result.version}" if result.image else "release"
    lines = [f"{what} at {result.location} ({scope})", "signatures:"]
    for check in result.signatures:
        if check.ok:
            good = "; ".join(f"{s.reason} ({s.primary})" for s in check.signatures)
            lines.append(f"  ok    {check.file}.asc  {good}")
        else:
            lines.extend(f"  FAIL  {problem}" for problem in check.problems)
    lines.append("files:")
    for file in result.files:
        if file.ok:
            lines.append(f"  ok    {file.name}  ({', '.join(file.passed)})")
        else:
            lines.append(f"  FAIL  {file.name}  {'; '.join(file.problems)}")
    if result.problems:
        lines.append("problems:")
        lines.extend(f"  FAIL  {problem}" for problem in result.problems)
    if result.ok:
        lines.append(f"OK: {len(result.files)} files match their signed digests")
    else:
        lines.append(f"FAILED: {count_problems(result)}")
    return "\n".join(lines)


def render_channel(result: ChannelVerifyResult) -> str:
    lines = [f"channel {result.channel} at {result.root}"]
    if result.index is not None:
        lines.append(f"  index: {result.index.status}: {result.index.message}")
    if result.snapshot is not None:
        lines.append(f"  snapshot: {result.snapshot.message}")
    if result.release is not None:
        lines.append(render_verify(result.release))
    lines.extend(f"FAIL  {problem}" for problem in result.problems)
    lines.append("OK" if result.ok else f"FAILED: {count_problems(result)}")
    return "\n".join(lines)
