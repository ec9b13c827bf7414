"""Commands that make the world match git: reconcile, publish --channel, resign, watch."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from release.channels.reconcile import reconcile
from release.channels.resign import resign
from release.channels.vouched import UNTRUSTED, Untrusted
from release.channels.watch import WatchSettings, watch
from release.cli.output import attempts_option, emit, json_option
from release.errors import OperationError
from release.integrity.signing import SigningConfig
from release.pipeline import Workspace
from release.publish.options import Options
from release.publish.retry import RetrySettings
from release.render.reconcile import render_reconcile, render_resign

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_WORK = ".release/work"

log = logging.getLogger("release.watch")


def common_options(func: F) -> F:
    """The config repo, the workspace, the journal, the signing key and the endpoint."""
    for option in reversed(
        [
            click.option("--repo", default=".", show_default=True,
                         type=click.Path(file_okay=False, path_type=Path),
                         help="The config repo (a git working tree); HEAD is the desired state."),
            click.option("--work", default=DEFAULT_WORK, show_default=True,
                         type=click.Path(file_okay=False, path_type=Path),
                         help="Where releases are built and sealed (reused when already there)."),
            click.option("--journal", type=click.Path(dir_okay=False, path_type=Path),
                         help="The publish journal (default: journal.sqlite in --work)."),
            click.option("--gnupghome", type=click.Path(file_okay=False, path_type=Path),
                         help="Sign with a key of this GnuPG home (needs --fingerprint)."),
            click.option("--fingerprint", help="The signing key's fingerprint."),
            click.option("--key-env", default="RELEASE_SIGNING_KEY", show_default=True,
                         help="Environment variable holding an armored private key."),
            click.option("--passphrase-file", type=click.Path(dir_okay=False, path_type=Path),
                         help="The key's passphrase (or $RELEASE_SIGNING_PASSPHRASE)."),
            click.option("--endpoint-url",
                         help="S3 endpoint for every S3 target (MinIO, Ceph, a local emulator)."),
        ]
    ):  # fmt: skip
        func = option(func)
    return func


def signing_config(
    gnupghome: Path | None, fingerprint: str | None, key_env: str, passphrase_file: Path | None
) -> SigningConfig:
    return SigningConfig(
        gnupghome=gnupghome,
        fingerprint=fingerprint,
        key_env=key_env,
        passphrase_file=passphrase_file,
    )


def _run(channels: list[str] | None, as_json: bool, **kw: Any) -> None:
    signing = signing_config(kw["gnupghome"], kw["fingerprint"], kw["key_env"],
                             kw["passphrase_file"])  # fmt: skip
    result = reconcile(
        kw["repo"],
        workspace=Workspace(kw["work"].absolute()),
        signing=signing,
        journal=kw["journal"],
        channels=channels,
        options=Options(endpoint_url=kw["endpoint_url"]),
        retry=RetrySettings(attempts=kw["attempts"]),
    )
    emit(result.to_dict(), as_json, lambda: render_reconcile(result))
    if not result.ok:
        failed = [
            f"{c.channel} on {t.target}: {t.detail}"
            for c in result.channels
            for t in c.targets
            if t.status == "failed"
        ]
        raise OperationError("not published (rerun to resume): " + "; ".join(failed))


@click.command("reconcile")
@common_options
@attempts_option
@json_option
def reconcile_cmd(as_json: bool, **kw: Any) -> None:
    """Make every channel's targets match the config at HEAD: build what is missing, publish
    it, then write the signed channel indexes. A second run does nothing and says so."""
    _run(None, as_json, **kw)


@click.command("publish")
@click.option("--channel", "channels", multiple=True, required=True,
              help="The channel to publish (repeatable).")  # fmt: skip
@common_options
@attempts_option
@json_option
def publish_cmd(channels: tuple[str, ...], as_json: bool, **kw: Any) -> None:
    """Build what CHANNEL needs if not built yet, publish it and its index to its targets."""
    _run(list(channels), as_json, **kw)


@click.command("resign")
@click.option("--channel", "channels", multiple=True, help="Only this channel (repeatable).")
@click.option("--within", default=7 * 86400, show_default=True, type=click.IntRange(0),
              help="Re-sign indexes expiring within this many seconds.")  # fmt: skip
@common_options
@json_option
def resign_cmd(channels: tuple[str, ...], within: int, as_json: bool, **kw: Any) -> None:
    """Re-sign channel indexes nearing expiry: same release, higher serial, new expiry."""
    signing = signing_config(kw["gnupghome"], kw["fingerprint"], kw["key_env"],
                             kw["passphrase_file"])  # fmt: skip
    result = resign(
        kw["repo"],
        signing=signing,
        channels=list(channels) or None,
        within=within,
        options=Options(endpoint_url=kw["endpoint_url"]),
    )
    emit(result.to_dict(), as_json, lambda: render_resign(result))
    if result.untrusted:
        where = ", ".join(f"{r.channel} on {r.target}" for r in result.untrusted)
        raise Untrusted(f"{where}: {UNTRUSTED}")


@click.command("watch")
@click.option("--repo", "url", required=True, help="The config repo to follow (URL or path).")
@click.option("--branch", default="main", show_default=True)
@click.option(
    "--interval",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Seconds between fetches.",
)
@click.option(
    "--work",
    default=DEFAULT_WORK,
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The watch's clone, its state (watch.json), releases and journal.",
)
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The publish journal (default: journal.sqlite in --work).",
)
@click.option(
    "--allow-rewrite",
    is_flag=True,
    help="Release a branch head that does not descend from the last one released.",
)
@click.option("--gnupghome", type=click.Path(file_okay=False, path_type=Path))
@click.option("--fingerprint")
@click.option("--key-env", default="RELEASE_SIGNING_KEY", show_default=True)
@click.option("--passphrase-file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--endpoint-url", help="S3 endpoint for every S3 target.")
def watch_cmd(url: str, branch: str, interval: float, work: Path, journal: Path | None,
              allow_rewrite: bool, endpoint_url: str | None, **kw: Any) -> None:  # fmt: skip
    """Follow BRANCH of the config repo: on each new commit, reconcile and tag the release
    (`release/<UTC time>`, pushed back). Stops cleanly on SIGTERM or Ctrl-C."""
    settings = WatchSettings(
        url=url,
        branch=branch,
        work=work.absolute(),
        signing=signing_config(
            kw["gnupghome"], kw["fingerprint"], kw["key_env"], kw["passphrase_file"]
        ),
        interval=interval,
        allow_rewrite=allow_rewrite,
        journal=journal,
        options=Options(endpoint_url=endpoint_url),
    )
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("%s: stopping after the current step", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        watch(settings, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


COMMANDS: list[click.Command] = [reconcile_cmd, publish_cmd, resign_cmd, watch_cmd]
