"""References generated from the code so they cannot drift from it; tests check them current.

    python -m release.docs config > docs/config-reference.md   # from the models' JSON Schemas
    python -m release.docs cli > docs/cli-reference.md         # from every command's --help

The config reference lists every field with its type, default and description, and a complete
example of each file kind; the CLI reference every command of every release/cli/*_cmds module.
"""

from __future__ import annotations

import copy
import importlib
import json
import pkgutil
import sys
from pathlib import Path
from typing import Any

import click

import release.cli
from release.demo import world
from release.model.schema import KINDS, schema

FILES = {
    "image": "images/NAME.yaml",
    "channel": "channels/NAME.yaml",
    "target": "targets/NAME.yaml",
    "trust": "keys/trust.yaml",
}
EXAMPLE_FPR = "0123456789ABCDEF0123456789ABCDEF01234567"
# What a field means where its model gives no description (schema descriptions win).
NOTES = {
    "name": "defaults to the file name; becomes file and object names",
    "version": 'what triggers a release when it changes; quote it (`"7.10"`)',
    "el": "the Enterprise Linux major version",
    "sources": "yum repos the packages come from",
    "packages": "package names and `@groups` to install",
    "exclude": "package globs never installed",
    "template": "overrides of the EL defaults of every cloud-template feature (docs/config.md)",
    "variants": "one build per cloud stack",
    "formats": "output formats of every variant",
    "qcow2_compat": "default 0.10 for EL6 (qemu 0.12 reads only v2), 1.1 for EL7",
    "raw_xz": "also publish an xz-compressed raw disk",
    "builder": "installroot (dnf into a directory) or kickstart (an installer in a VM)",
    "installer": "builder: kickstart's installer: qemu (the tree's own, in QEMU; any host),"
    " livemedia-creator (EL hosts only) or koji",
    "install_tree": "installer: qemu boots the installer of this EL install tree: an http(s)"
    " URL, a directory or a DVD ISO (default: the first source's baseurl)",
    "image": "the image definition whose releases the channel carries",
    "channel.version": "a pinned version, or `latest` (the image's current version)",
    "follow": "take whatever release that channel has",
    "targets": "names of files in targets/",
    "keys": "trust-file key names that may sign it (the trust file always decides)",
    "index_ttl": "how long a signed channel index stays valid",
    "fingerprint": "40 hex digits, pinned",
    "channels": "glob patterns of channel names the key may sign",
    "not_after": "the last day (UTC) the key may sign: the end of a rotation window",
    "revoked": "the key is compromised: every signature by it is refused, even inside its window",
    "regions": "the AMI is imported in the first, copied to the others",
    "launch_permissions": "AWS account ids that may launch the AMI, or `all` (public)",
    "family": "the GCE image family the image joins",
    "staging_endpoint_url": "the staging bucket's endpoint (an S3-compatible store, an emulator)",
}


def examples() -> dict[str, str]:
    """The files `release demo` writes: real, valid examples of each kind."""
    return {
        "image": world.image_yaml(7, Path("/srv/demo/repos/el7/repo"), "kernel"),
        "channel": world.channel_yaml("el7-stable"),
        "target": world.target_yaml(Path("/srv/mirror")),
        "trust": world.trust_yaml(EXAMPLE_FPR),
    }


def type_of(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return f"[{prop['$ref'].rsplit('/', 1)[-1]}](#{prop['$ref'].rsplit('/', 1)[-1].lower()})"
    if "const" in prop:
        return f"`{json.dumps(prop['const'])}`"
    if "enum" in prop:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in prop["enum"])
    if "anyOf" in prop or "oneOf" in prop:
        return " or ".join(type_of(p) for p in prop.get("anyOf", prop.get("oneOf", [])))
    kind = prop.get("type", "any")
    if kind == "array" and "items" in prop:
        return f"list of {type_of(prop['items'])}"
    if kind == "object" and isinstance(prop.get("additionalProperties"), dict):
        return f"map of name to {type_of(prop['additionalProperties'])}"
    return str(kind)


def default_of(name: str, prop: dict[str, Any], required: list[str]) -> str:
    if name in required:
        return "required"
    default = prop.get("default", "-")
    if isinstance(default, dict) and not any(v is not None for v in default.values()):
        return "`{}`"
    if "default" in prop:
        return f"`{json.dumps(default)}`"
    return "-"


def fields_table(model: dict[str, Any], kind: str) -> list[str]:
    required = model.get("required", [])
    lines = ["| field | type | default | description |", "| --- | --- | --- | --- |"]
    for name, prop in model.get("properties", {}).items():
        about = " ".join(
            str(prop.get("description", NOTES.get(f"{kind}.{name}", NOTES.get(name, "")))).split()
        )
        about = about.replace("|", "\\|")
        lines.append(
            f"| `{name}` | {type_of(prop)} | {default_of(name, prop, required)} | {about} |"
        )
    return lines


def kind_section(kind: str, example: str) -> list[str]:
    sch = schema(kind)
    lines = [f"## {kind}: `{FILES[kind]}`", ""]
    if "properties" in sch:
        lines += [*fields_table(sch, kind), ""]
    elif "oneOf" in sch or "anyOf" in sch or "discriminator" in sch:
        lines += [f"One of: {type_of(sch)}.", ""]
    for name, model in sch.get("$defs", {}).items():
        about = " ".join(str(model.get("description", "")).split())
        lines += [f"### {name}", ""] + ([about, ""] if about else [])
        lines += [*fields_table(model, kind), ""]
    lines += ["Example (as `release demo` writes it):", "", "```yaml", example.rstrip(), "```", ""]
    return lines


def reference() -> str:
    lines = [
        "# Config reference",
        "",
        "Generated from the JSON Schemas of the models (`python -m release.docs`); do not edit.",
        "`release schema KIND` prints each schema for editors. Sizes are bytes or binary units",
        "(`64MiB`), durations seconds or `30d`, `12h`. See [config.md](config.md) for a tour.",
        "",
    ]
    sample = examples()
    for kind in KINDS:
        lines += kind_section(kind, sample[kind])
    return "\n".join(lines).rstrip() + "\n"


def all_commands() -> list[click.Command]:
    """Every command of every release/cli/*_cmds module, registered in the CLI yet or not."""
    found: dict[str, click.Command] = {}
    for module in pkgutil.iter_modules(release.cli.__path__):
        if module.name.endswith("_cmds"):
            loaded = importlib.import_module(f"release.cli.{module.name}")
            found |= {command.name or "": command for command in loaded.COMMANDS}
    return [found[name] for name in sorted(found)]


def command_help(command: click.Command, parent: click.Context) -> list[str]:
    # click caches a command's help option with the names of the first context that asked
    # (a test's bare group says `--help`, the CLI `-h, --help`): render a copy without it.
    command = copy.copy(command)
    command._help_option = None
    ctx = click.Context(command, info_name=command.name, parent=parent, max_content_width=96,
                        terminal_width=96)  # fmt: skip
    lines = [f"## `{ctx.command_path}`", "", "```", command.get_help(ctx), "```", ""]
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None:
                lines += command_help(sub, ctx)
    return lines


def cli_reference() -> str:
    settings = {**release.cli.cli.context_settings, "max_content_width": 96, "terminal_width": 96}
    root = click.Context(release.cli.cli, info_name="release", **settings)
    lines = [
        "# CLI command reference",
        "",
        "Generated from each command's `--help` (`python -m release.docs cli`); do not edit.",
        "Exit codes, error format and `--json` shapes: [cli.md](cli.md).",
        "",
    ]
    for command in all_commands():
        lines += command_help(command, root)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    which = args[0] if args else "config"
    if which not in ("config", "cli"):
        raise SystemExit("usage: python -m release.docs [config|cli]")
    sys.stdout.write(reference() if which == "config" else cli_reference())


if __name__ == "__main__":
    main()
