"""`release demo [DIR] [--serve]`: the whole release story, offline, in one directory."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click

from release.demo.serve import serve
from release.demo.story import DemoPaths, run_demo


@click.command("demo")
@click.argument("directory", default="release-demo", type=click.Path(file_okay=False))
@click.option(
    "--no-boot-kernel",
    is_flag=True,
    help="Do not package Debian's kernel (cached by .ci/setup, else fetched with apt-get"
    " download): the images then carry a stand-in kernel and do not boot.",
)
@click.option(
    "--serve",
    "serve_mirror",
    is_flag=True,
    help="After the story, serve the mirror on 127.0.0.1 for a browser until Ctrl-C.",
)
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="The port --serve listens on (0: any free port).",
)
def demo_cmd(directory: str, no_boot_kernel: bool, serve_mirror: bool, port: int) -> None:
    """Build a demo world in DIRECTORY and release in it: local package repos, a config git
    repo with images, channels, a mirror and a fresh signing key; then a version bump merged
    into main, plan, release, promotion, verify, the mirror's pages and `release status`.

    No network (except fetching a bootable kernel once) and no cloud account. Rerunning
    reuses what exists.
    """
    result = run_demo(Path(directory), click.echo, boot_kernel=not no_boot_kernel)
    click.echo(f"\nDone: {result.root} (signing key {result.fingerprint})")
    if serve_mirror:
        serve_until_stopped(DemoPaths(result.root).mirror, port)


def serve_until_stopped(mirror: Path, port: int) -> None:
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stop.set()

    def ready(url: str) -> None:
        click.echo(f"\nserving {mirror} at {url} (Ctrl-C stops)")

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        serve(mirror, port, stop, ready)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("stopped serving")


COMMANDS: list[click.Command] = [demo_cmd]


if __name__ == "__main__":  # `python -m release.cli.demo_cmds DIR` until the CLI registers it
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    demo_cmd()
