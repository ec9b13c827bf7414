"""`release convert`: turn one raw disk into the requested formats (for use on its own)."""

from __future__ import annotations

from pathlib import Path

import click

from release.cli.output import emit, json_option
from release.formats import ConvertedFile, ConvertOptions, convert, parse_formats
from release.model.target import ALL_FORMATS


def _basename(raw: Path) -> str:
    name = raw.name
    for suffix in (".raw", ".img"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


@click.command("convert")
@click.argument("raw", type=click.Path(path_type=Path))
@click.option(
    "--formats",
    "formats_text",
    default=",".join(ALL_FORMATS),
    show_default=True,
    help="Comma-separated formats to make.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Existing directory for the outputs.",
)
@click.option("--name", "basename", help="Output file name stem [default: RAW without .raw].")
@click.option(
    "--qcow2-compat",
    type=click.Choice(["0.10", "1.1"]),
    default="1.1",
    show_default=True,
    help="0.10 for EL6-era hosts.",
)
@click.option("--qcow2-compress", is_flag=True, help="Compress the qcow2 clusters.")
@click.option("--raw-xz", is_flag=True, help="Also write <name>.raw.xz (with the raw format).")
@click.option("--product", help="Product name in the OVA descriptor [default: the name].")
@click.option("--product-version", default="0", show_default=True, help="Version in the OVA.")
@click.option("--cpus", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--memory", "memory_mib", type=click.IntRange(min=4), default=1024, show_default=True)
@click.option("--ova-sha1", is_flag=True, help="SHA1 lines in the OVA manifest (old vSphere).")
@click.option(
    "--gzip-level",
    type=click.IntRange(1, 9),
    default=1,
    show_default=True,
    help="pigz level of the GCE archive (6: ~8% smaller, ~2.5x the CPU).",
)
@click.option("--jobs", type=click.IntRange(min=1), help="Concurrent conversions [default: cores].")
@json_option
def convert_cmd(
    raw: Path,
    formats_text: str,
    out_dir: Path,
    basename: str | None,
    qcow2_compat: str,
    qcow2_compress: bool,
    raw_xz: bool,
    product: str | None,
    product_version: str,
    cpus: int,
    memory_mib: int,
    ova_sha1: bool,
    gzip_level: int,
    jobs: int | None,
    as_json: bool,
) -> None:
    """Convert the raw disk RAW to each format, check every output, write them to --out."""
    name = basename or _basename(raw)
    options = ConvertOptions(
        formats=parse_formats(formats_text),
        qcow2_compat="0.10" if qcow2_compat == "0.10" else "1.1",
        qcow2_compress=qcow2_compress,
        raw_xz=raw_xz,
        product=product or name,
        version=product_version,
        cpus=cpus,
        memory_mib=memory_mib,
        ova_sha1=ova_sha1,
        gzip_level=gzip_level,
        jobs=jobs,
    )
    artifacts = convert(raw, out_dir, name, options)
    emit([a.to_dict() for a in artifacts], as_json, lambda: _text(artifacts))


def _text(artifacts: list[ConvertedFile]) -> str:
    return "\n".join(f"{a.format:6} {a.size:>14,} {a.path}" for a in artifacts)


COMMANDS: list[click.Command] = [convert_cmd]
