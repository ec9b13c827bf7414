"""`release demo [DIR]`: the whole release story, offline, in one directory."""

from __future__ import annotations

from pathlib import Path

import click

from release.demo.story import run_demo


@click.command("demo")
@click.argument("directory", default="release-demo", type=click.Path(file_okay=False))
@click.option(
    "--no-boot-kernel",
    is_flag=True,
    help="Do not package Debian's kernel (cached by .ci/setup, else fetched with apt-get"
    " download): the images then carry a stand-in kernel and do not boot.",
)
def demo_cmd(directory: str, no_boot_kernel: bool) -> None:
    """Build a demo world in DIRECTORY and release in it: local package repos, a config git
    repo with images, channels, a mirror and a fresh signing key; then a version bump merged
    into main, plan, release, promotion, verify.

    No network (except fetching a bootable kernel once) and no cloud account. Rerunning
    reuses what exists.
    """
    result = run_demo(Path(directory), click.echo, boot_kernel=not no_boot_kernel)
    click.echo(f"\nDone: {result.root} (signing key {result.fingerprint})")


COMMANDS: list[click.Command] = [demo_cmd]


if __name__ == "__main__":  # `python -m release.cli.demo_cmds DIR` until the CLI registers it
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    demo_cmd()
