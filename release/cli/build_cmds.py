"""Commands that build images: `release render` (kickstarts) and `release build` (raw disks)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from release.cli.output import emit, json_option
from release.config.check import load_checked
from release.config.gitrepo import open_repo
from release.config.loader import ConfigRepo
from release.config.source import GitRevision, open_source
from release.errors import ConfigError, InvalidInput
from release.imaging import kickstart, reproducible
from release.imaging.builder import BuildResult, build
from release.imaging.qemu_builder import QemuOptions
from release.imaging.qemu_install import DEFAULT_DEADLINE, Accel, Delivery
from release.integrity.keyinfo import read_key_bytes
from release.model.image import ImageDefinition

REPO_OPTION = click.option(
    "--repo", default=".", show_default=True, help="Config repo: a directory or a git URL."
)
VARIANT_OPTION = click.option(
    "--variant", "variants", multiple=True, help="Only this variant (repeatable); default: all."
)


def _load(repo: str) -> ConfigRepo:
    return _load_dated(repo)[0]


def _load_dated(repo: str) -> tuple[ConfigRepo, int]:
    """The config and its commit's time, the SOURCE_DATE_EPOCH when the environment sets
    none (0 outside git)."""
    with open_source(repo) as source:
        config = load_checked(source, read_key_bytes)
        if config.problems:
            raise ConfigError(config.problems)
        if isinstance(source, GitRevision):
            return config, source.commit.time
        root, revision = source.root, source.revision
        if root is None or revision is None:
            return config, 0
        return config, open_repo(root).commit(revision).time


def _image(config: ConfigRepo, name: str) -> ImageDefinition:
    if name not in config.images:
        known = ", ".join(sorted(config.images)) or "none"
        raise InvalidInput(f"no image {name!r} in images/ (known: {known})")
    return config.image(name)


def _variants(image: ImageDefinition, chosen: tuple[str, ...]) -> list[str]:
    for name in chosen:
        if name not in image.variants:
            raise InvalidInput(
                f"image {image.name} has no variant {name!r} (it has: {', '.join(image.variants)})"
            )
    return list(chosen) or list(image.variants)


@click.command("render")
@click.argument("image")
@VARIANT_OPTION
@REPO_OPTION
def render_cmd(image: str, variants: tuple[str, ...], repo: str) -> None:
    """Print the kickstart of each variant of IMAGE, validated with pykickstart."""
    definition = _image(_load(repo), image)
    texts = [kickstart.render_valid(definition, v) for v in _variants(definition, variants)]
    click.echo("\n".join(texts), nl=False)


@click.command("build")
@click.argument("image")
@VARIANT_OPTION
@REPO_OPTION
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("out"),
    show_default=True,
    help="Where the raw disks and package manifests go.",
)
@click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    help="Build cache (default: .release/cache in the config repo).",
)
@click.option(
    "--install-tree",
    metavar="URL|DIR|ISO",
    help="installer: qemu: boot the installer of this EL install tree or DVD ISO"
    " (overrides the definition's install_tree; default: the first source's baseurl).",
)
@click.option(
    "--accel",
    type=click.Choice(["auto", "kvm", "tcg"]),
    default="auto",
    show_default=True,
    help="installer: qemu: KVM when /dev/kvm opens read-write, else TCG (5-20x slower).",
)
@click.option(
    "--install-deadline",
    type=click.FloatRange(min=1),
    default=DEFAULT_DEADLINE,
    show_default=True,
    help="installer: qemu: seconds the whole install may take before it is stopped.",
)
@click.option(
    "--ks-via",
    type=click.Choice(["oemdrv", "http"]),
    default="oemdrv",
    show_default=True,
    help="installer: qemu: the kickstart on a disk labelled OEMDRV, or over HTTP from"
    " 127.0.0.1 (the guest's 10.0.2.2) during the install.",
)
@json_option
def build_cmd(
    image: str,
    variants: tuple[str, ...],
    repo: str,
    out: Path,
    cache: Path | None,
    install_tree: str | None,
    accel: Accel,
    install_deadline: float,
    ks_via: Delivery,
    as_json: bool,
) -> None:
    """Build a raw disk and a package manifest per variant of IMAGE (cached by content).

    Every clock of the build is SOURCE_DATE_EPOCH, else the config commit's time: the same
    inputs give the same bytes (docs/reproducible.md)."""
    config, commit_time = _load_dated(repo)
    definition = _image(config, image)
    if install_tree:
        definition = with_install_tree(definition, install_tree)
    cache_dir = cache or Path(repo, ".release", "cache")
    sde = reproducible.source_date_epoch(os.environ, commit_time)
    options = QemuOptions(accel=accel, deadline=install_deadline, delivery=ks_via)
    results = [
        build(definition, v, out, cache_dir, options=options, sde=sde)
        for v in _variants(definition, variants)
    ]
    emit([r.to_dict() for r in results], as_json, lambda: _build_text(results))


def with_install_tree(image: ImageDefinition, tree: str) -> ImageDefinition:
    if image.builder != "kickstart" or image.installer != "qemu":
        raise InvalidInput(
            f"--install-tree: image {image.name} is not built by builder: kickstart with"
            " installer: qemu, so it boots no installer"
        )
    return ImageDefinition.model_validate({**image.model_dump(), "install_tree": tree})


def _build_text(results: list[BuildResult]) -> str:
    lines = []
    for r in results:
        how = "cached" if r.cached else f"built in {r.seconds:.1f} s"
        lines.append(f"{r.variant:<12} {how:<16} {r.raw_path}  (id {r.build_id[:12]})")
        lines.append(f"{'':<12} manifest: {r.manifest_path}")
    return "\n".join(lines)


COMMANDS: list[click.Command] = [render_cmd, build_cmd]
