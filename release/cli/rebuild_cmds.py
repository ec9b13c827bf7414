"""`release rebuild`: rebuild a published release and compare it byte for byte."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from release.cli.integrity_cmds import KEYS_HELP, key_source
from release.cli.output import emit, json_option
from release.errors import VerificationError
from release.rebuild import RebuildResult, rebuild_release


def render(result: RebuildResult) -> str:
    lines = [
        f"{result.image} {result.version} at {result.commit[:12]},"
        f" SOURCE_DATE_EPOCH={result.sde}: rebuilt in {result.seconds:.1f} s"
    ]
    if result.ok:
        lines.append(f"identical: all {len(result.identical)} files match the provenance")
    for diff in result.differing:
        if diff.found is None:
            lines.append(f"DIFFERS {diff.name}: the rebuild made no such file")
            continue
        spans = ", ".join(f"{a}-{b}" for a, b in diff.ranges)
        more = f" and {diff.more} more ranges" if diff.more else ""
        lines.append(f"DIFFERS {diff.name}: bytes {spans}{more}")
        if diff.diffoscope:
            lines.append(diff.diffoscope)
    return "\n".join(lines)


@click.command("rebuild")
@click.argument("location")
@click.option("--keys", "keys_path", type=click.Path(path_type=Path), help=KEYS_HELP)
@click.option(
    "--repo",
    help="The config repo (a directory or git URL). Default: the one the provenance names.",
)
@click.option(
    "--work",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to build (kept). Default: a temporary directory, removed afterwards.",
)
@json_option
def rebuild_command(
    location: str, keys_path: Path | None, repo: str | None, work: Path | None, as_json: bool
) -> None:
    """Rebuild the release at LOCATION (path or URL) from the commit its verified provenance
    names, with its SOURCE_DATE_EPOCH, and compare every artifact, package list and SBOM.

    Exit codes: 0 identical; 3 the release does not verify, or a file differs (the byte
    ranges that differ are listed, with diffoscope's report where it is installed);
    2 bad input; 1 the build failed.
    """
    keys = key_source(keys_path)
    if work is not None:
        result = rebuild_release(location, keys, work.absolute(), repo)
    else:
        with tempfile.TemporaryDirectory(prefix="release-rebuild-") as tmp:
            result = rebuild_release(location, keys, Path(tmp), repo)
    emit(result.to_dict(), as_json, lambda: render(result))
    if not result.ok:
        raise VerificationError(f"{location}: the rebuild differs ({len(result.differing)} files)")


COMMANDS: list[click.Command] = [rebuild_command]
