"""Commands about release integrity: verify, keys list|check|export, seal."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
from pathlib import Path

import click

from release import runner
from release.channels.serials import SerialStore
from release.channels.verify import verify_channel
from release.cli.output import emit, json_option
from release.errors import ConfigError, InvalidInput, VerificationError
from release.fsutil import write_bytes
from release.integrity.deadline import DOCUMENT_SECONDS, RUN_SECONDS, Budget, Limits
from release.integrity.keys import check_keys, export_public_keys, key_statuses
from release.integrity.keysource import KeySource, load_key_source
from release.integrity.manifest import MANIFEST, Manifest
from release.integrity.provenance import Origin, builder_id
from release.integrity.releasedir import ReleaseInfo, seal
from release.integrity.signing import SigningConfig, open_signer
from release.integrity.verify import VerifyResult, verify_release
from release.render.verify import count_problems, render_channel, render_verify

log = logging.getLogger(__name__)

KEYS_HELP = (
    "A keys directory (public *.asc + trust.yaml) or one public key file."
    " Default: keys/ of the config repo in the current directory."
)


def key_source(path: Path | None) -> KeySource:
    if path is None:
        path = Path("keys")
        if not path.is_dir():
            raise InvalidInput(
                "no keys: pass --keys with the release's public key file or a keys directory"
                " (or run inside the config repo, which has keys/)"
            )
    return load_key_source(path)


_SECONDS = click.FloatRange(min=0, min_open=True)


@click.command("verify")
@click.argument("location")
@click.option("--keys", "keys_path", type=click.Path(path_type=Path), help=KEYS_HELP)
@click.option(
    "--channel",
    help="LOCATION is a mirror's root: verify channel CHANNEL through its signed index"
    " (channels/CHANNEL.json there, and nowhere else), then the release it names."
    " Without a valid index: exit 3.",
)
@click.option(
    "--channel-keys",
    metavar="CHANNEL",
    help="LOCATION is a release directory: accept only keys trust.yaml allows for CHANNEL.",
)
@click.option("--image", help="The image the release must be (default: from LOCATION's path).")
@click.option(
    "--version",
    "version",
    help="The version the release must be (default: from LOCATION's path).",
)
@click.option("--file", "files", multiple=True, help="Check only this file (repeatable).")
@click.option(
    "--serials",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where the highest index serials seen are kept (default: ~/.cache/image-release/).",
)
@click.option(
    "--timeout",
    "run_timeout",
    type=_SECONDS,
    default=RUN_SECONDS,
    show_default=True,
    help="Seconds the whole verification may take; past it, exit 3.",
)
@click.option(
    "--document-timeout",
    type=_SECONDS,
    default=DOCUMENT_SECONDS,
    show_default=True,
    help="Seconds one file's download may take (an index, a signature, an artifact).",
)
@click.option(
    "--provenance",
    "show_provenance",
    is_flag=True,
    help="Require the release's signed provenance (provenance.intoto.jsonl) and print its"
    " in-toto statement once verified.",
)
@json_option
def verify_command(
    location: str,
    keys_path: Path | None,
    channel: str | None,
    channel_keys: str | None,
    image: str | None,
    version: str | None,
    files: tuple[str, ...],
    serials: Path | None,
    show_provenance: bool,
    run_timeout: float,
    document_timeout: float,
    as_json: bool,
) -> None:
    """Verify a release directory (path or http(s) URL): signatures, sizes, digests.

    The signed manifest must be the release LOCATION is named after (`<image>/<version>/`)
    or the one --image and --version name. With --channel, LOCATION is a mirror's root:
    first the channel's signed index (not expired, not replayed, agreeing with the
    snapshot), then the release it points at. Exit code 3 when anything does not check out.
    """
    budget = Budget(Limits(document=document_timeout, run=run_timeout))
    if channel is not None:
        if channel_keys or image or version or files:
            raise InvalidInput(
                "--channel takes the release from the channel's index: drop --channel-keys,"
                " --image, --version and --file (or drop --channel to verify a release directory)"
            )
        checked = verify_channel(
            location, channel, key_source(keys_path), serials=SerialStore(serials), budget=budget
        )
        emit(checked.to_dict(), as_json, lambda: render_channel(checked))
        _show_provenance(checked.release, show_provenance and not as_json)
        if show_provenance and (checked.release is None or checked.release.provenance is None):
            raise VerificationError(f"{location}: channel {channel}: no verified provenance")
        if not checked.ok:
            count = len(checked.failures())
            raise VerificationError(f"{location}: channel {channel}: FAILED ({count} problems)")
        return
    result = verify_release(
        location, key_source(keys_path), channel=channel_keys, files=files,
        image=image, version=version, budget=budget, require_provenance=show_provenance,
    )  # fmt: skip
    emit(result.to_dict(), as_json, lambda: render_verify(result))
    _show_provenance(result, show_provenance and not as_json)
    if not result.ok:
        raise VerificationError(f"{location}: verification FAILED ({count_problems(result)})")


def _show_provenance(result: VerifyResult | None, wanted: bool) -> None:
    """Print the verified statement (only when it verified: nothing unsigned is shown)."""
    if wanted and result is not None and result.ok and result.provenance is not None:
        click.echo("provenance (in-toto statement, verified):")
        click.echo(json.dumps(result.provenance, indent=2, sort_keys=True))


@click.group("keys")
def keys_group() -> None:
    """The signing keys downstream users verify with (keys/ and trust.yaml)."""


@keys_group.command("list")
@click.option("--keys", "keys_path", type=click.Path(path_type=Path), help=KEYS_HELP)
@json_option
def keys_list(keys_path: Path | None, as_json: bool) -> None:
    """List the trusted keys: fingerprint, channels, expiry, state."""
    now = dt.datetime.now(dt.UTC)
    statuses = key_statuses(key_source(keys_path))

    def text() -> str:
        lines = []
        for s in statuses:
            row = s.to_dict(now)
            lines.append(
                f"{s.name}  {row['fingerprint']}  {row['state']}"
                f"  channels={','.join(row['channels'])}"
                f"  expires={row['expires'] or 'never'}  not_after={row['not_after'] or '-'}"
            )
        return "\n".join(lines) or "no trusted keys"

    emit([s.to_dict(now) for s in statuses], as_json, text)


@keys_group.command("check")
@click.option("--keys", "keys_path", type=click.Path(path_type=Path), help=KEYS_HELP)
@json_option
def keys_check(keys_path: Path | None, as_json: bool) -> None:
    """Check the keys: none expired, revoked, retired, non-RSA or private (exit 2 if so)."""
    problems, warnings = check_keys(key_source(keys_path))
    data = {"problems": [p.to_dict() for p in problems], "warnings": warnings}
    emit(data, as_json, lambda: "\n".join([*(f"warning: {w}" for w in warnings), "keys: ok"]))
    if problems:
        raise ConfigError(problems)


@keys_group.command("export")
@click.argument("names", nargs=-1)
@click.option("--keys", "keys_path", type=click.Path(path_type=Path), help=KEYS_HELP)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write to this file.")
def keys_export(names: tuple[str, ...], keys_path: Path | None, output: Path | None) -> None:
    """Print the armored public keys downstream users need (all trusted keys by default)."""
    armored = export_public_keys(key_source(keys_path), names)
    if output is None:
        click.echo(armored.decode("ascii"), nl=False)
    else:
        write_bytes(output, armored)


def _existing_build_time(directory: Path) -> dt.datetime | None:
    """Reuse the recorded build time so resealing writes the same manifest."""
    path = directory / MANIFEST
    if not path.is_file():
        return None
    try:
        return Manifest.parse(path.read_bytes()).build.time
    except VerificationError:
        return None


@click.command("seal")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--image", required=True)
@click.option("--version", "version", required=True)
@click.option("--variant", "variants", multiple=True, required=True)
@click.option("--commit", required=True, help="The config repo commit the release came from.")
@click.option("--builder", default=socket.gethostname, show_default="this host's name")
@click.option("--tool", "tools", multiple=True, help="NAME=VERSION of a build tool (repeatable).")
@click.option("--gnupghome", type=click.Path(path_type=Path, file_okay=False))
@click.option("--fingerprint", help="The signing key (required with --gnupghome).")
@click.option("--key-env", default="RELEASE_SIGNING_KEY", show_default=True)
@click.option("--passphrase-file", type=click.Path(path_type=Path, dir_okay=False))
@json_option
def seal_command(
    directory: Path,
    image: str,
    version: str,
    variants: tuple[str, ...],
    commit: str,
    builder: str,
    tools: tuple[str, ...],
    gnupghome: Path | None,
    fingerprint: str | None,
    key_env: str,
    passphrase_file: Path | None,
    as_json: bool,
) -> None:
    """Write checksums, manifest.json, SBOMs and signatures of a release directory."""
    tool_versions = dict(t.split("=", 1) for t in tools if "=" in t)
    for name in ("gpg", "qemu-img"):
        tool_versions.setdefault(name, runner.version(name) or "not installed")
    info = ReleaseInfo(
        image=image,
        version=version,
        variants=variants,
        commit=commit,
        builder=builder,
        build_time=_existing_build_time(directory)
        or dt.datetime.now(dt.UTC).replace(microsecond=0),
        tools=tool_versions,
        origin=Origin(builder_id=builder_id(os.environ, socket.gethostname())),
    )
    config = SigningConfig(
        gnupghome=gnupghome,
        fingerprint=fingerprint,
        key_env=key_env,
        passphrase_file=passphrase_file,
    )
    with open_signer(config) as signer:
        result = seal(directory, info, signer)
    data = {
        "directory": str(directory),
        "written": list(result.written),
        "signed": list(result.signed),
    }
    emit(data, as_json, lambda: f"sealed {directory}: {len(result.written)} files written")


COMMANDS: list[click.Command] = [verify_command, keys_group, seal_command]
