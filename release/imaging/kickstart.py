"""Render a kickstart per (image, variant) from the feature table, validated by pykickstart.

The `%post` script is the same `TreeEdit` the installroot builder applies, turned into shell,
so both renderings carry identical files. Validation runs before anything is written or
handed to an installer; a failure names the kickstart line.
"""

from __future__ import annotations

import shlex
import warnings
from pathlib import PurePosixPath

from pykickstart.errors import KickstartError
from pykickstart.parser import KickstartParser
from pykickstart.version import RHEL6, RHEL7, makeVersion

from release.errors import InvalidInput
from release.imaging import steps
from release.imaging.features import Rendering, render_all
from release.imaging.rootfs import TreeEdit
from release.model.image import ImageDefinition

_DELIM = "RELEASE_EOF"

# Sets one `KEY value` / `KEY=value` line the way rootfs.set_line does: replace the first
# line with that key (drop later ones), or append.
_SETLINE = r"""setline() {
  f=$1; l=$2; k=$(printf '%s' "$l" | sed 's/[ =].*//')
  mkdir -p "$(dirname "$f")"; touch "$f"
  awk -v k="$k" -v l="$l" '
    index($0, k) == 1 && substr($0, length(k) + 1, 1) ~ /[ \t=]/ { if (!d) print l; d = 1; next }
    { print }
    END { if (!d) print l }' "$f" > "$f.new"
  cat "$f.new" > "$f"; rm -f "$f.new"
}"""


class KickstartInvalid(InvalidInput):
    def __init__(self, where: str, version: str, lineno: int | None, line: str, why: str) -> None:
        self.lineno = lineno
        place = f" at line {lineno}: {line.strip()!r}" if lineno else ""
        super().__init__(
            f"the kickstart for {where} is not valid {version}{place}: {why}"
            " (fix the template value in the image definition that produced this line)"
        )


def post_script(edit: TreeEdit) -> str:
    """The `%post` body that applies `edit` inside the installed system."""
    out = ["set -e", _SETLINE]
    for pattern in edit.removals:
        out.append(f"rm -f {pattern}")  # our own table's globs: no spaces, meant to expand
    for pattern, keep in edit.prune.items():
        kept = "|".join(shlex.quote(name) for name in keep) or "''"
        out.append(
            f'for f in {pattern}; do case "${{f##*/}}" in {kept}) ;; *) rm -f "$f" ;; esac; done'
        )
    for path, content in edit.files.items():
        parent = str(PurePosixPath(path).parent)
        out.append(f"mkdir -p {shlex.quote(parent)}")
        if content.endswith("\n") and f"\n{_DELIM}\n" not in content:
            out.append(f"cat > {shlex.quote(path)} <<'{_DELIM}'\n{content}{_DELIM}")
        else:
            out.append(f"printf '%s' {shlex.quote(content)} > {shlex.quote(path)}")
    for path, lines in edit.lines.items():
        out += [f"setline {shlex.quote(path)} {shlex.quote(line)}" for line in lines]
    for path, target in edit.links.items():
        parent = str(PurePosixPath(path).parent)
        out.append(f"mkdir -p {shlex.quote(parent)}")
        out.append(f"ln -sfn {shlex.quote(target)} {shlex.quote(path)}")
    return "\n".join(out) + "\n"


# What the installroot builder does after the edits, in the installed system: the initramfs of
# each installed kernel rebuilt with the paravirt drivers (installroot.finish_tree), then labels.
_DRACUT = r"""for k in /boot/vmlinuz-*; do
  kver=${k#/boot/vmlinuz-}
  case "$kver" in *rescue*|'*') continue ;; esac
  if [ -d "/lib/modules/$kver" ] && command -v dracut >/dev/null; then
    dracut -f --no-hostonly "/boot/initramfs-$kver.img" "$kver"
  fi
done"""
_RELABEL = (
    "/usr/sbin/setfiles -F -e /proc -e /sys -e /dev"
    " /etc/selinux/targeted/contexts/files/file_contexts /"
)


def post_sections(part: Rendering, relabel: bool) -> list[str]:
    """The `%post` sections: firmware erased by the installer's rpm (--nochroot), then, in
    the installed system, the template's edits, the initramfs, the labels and the cleanup."""
    out: list[str] = []
    if part.remove_packages:
        erase = steps.erase_script(part.remove_packages).rstrip("\n")
        out += ["%post --nochroot --erroronfail", erase, "%end", ""]
    body = [post_script(part.edit).rstrip("\n"), _DRACUT]
    if relabel:
        body.append(_RELABEL)
    if part.cleanup:
        body.append(steps.cleanup_script(part.cleanup).rstrip("\n"))
    return [*out, "%post --erroronfail", *body, "%end"]


def rendering_for(image: ImageDefinition, variant: str) -> Rendering:
    return render_all(image.template_for(variant), image.el)


def render(image: ImageDefinition, variant: str) -> str:
    """The kickstart text for one variant (not yet validated: see `render_valid`)."""
    if variant not in image.variants:
        raise InvalidInput(
            f"image {image.name} has no variant {variant!r} (it has: {', '.join(image.variants)})"
        )
    part = rendering_for(image, variant)
    template = image.template_for(variant)
    relabel = template.selinux != "disabled" and template.relabel == "build"
    services = steps.services_command(part.enable, part.disable)
    sources = image.sources_for(variant)
    stack = image.stack_of(variant)
    head = [
        f"# {image.name} {image.version}, variant {variant} ({stack}), EL{image.el} {image.arch}",
        "# Rendered by `release render` from the image definition: edit that, not this file.",
        f"url --url={sources[0].baseurl}",
        *(f"repo --name={s.name} --baseurl={s.baseurl}" for s in sources[1:]),
        "text",
        "skipx",
        "firstboot --disabled",
        "zerombr",
        "clearpart --all --initlabel",
        # One root partition filling the install disk; growing it on the instance's larger
        # disk is the growroot feature's business.
        "part / --fstype=ext4 --size=1024 --grow --asprimary",
        f'bootloader --location=mbr --timeout=1 --append="{" ".join(part.kernel_args)}"',
        *part.commands,
        *([services] if services else []),
        "poweroff",
    ]
    packages = [
        *image.packages_for(variant),
        *(p for p in part.packages if p not in image.packages_for(variant)),
    ]
    body = [
        "%packages --nobase" if image.el == 6 else "%packages",
        *packages,
        *(f"-{name}" for name in image.excludes_for(variant)),
        "%end",
        "",
        *post_sections(part, relabel),
    ]
    return "\n".join([*head, "", *body]) + "\n"


def validate(text: str, el: int, where: str) -> None:
    """Parse `text` as a RHEL6/RHEL7 kickstart; deprecation warnings count as errors, since
    the installer of that release may reject what pykickstart only warns about."""
    version_name = "RHEL6" if el == 6 else "RHEL7"
    parser = KickstartParser(makeVersion(RHEL6 if el == 6 else RHEL7))
    lines = text.splitlines()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            parser.readKickstartFromString(text)
        except KickstartError as exc:
            lineno = getattr(exc, "lineno", None)
            line = lines[lineno - 1] if lineno and 0 < lineno <= len(lines) else ""
            why = str(getattr(exc, "value", None) or exc).strip().splitlines()[-1]
            raise KickstartInvalid(where, version_name, lineno, line, why) from exc
    for warning in caught:
        if issubclass(warning.category, DeprecationWarning | UserWarning):
            raise KickstartInvalid(where, version_name, None, "", str(warning.message))


def render_valid(image: ImageDefinition, variant: str) -> str:
    text = render(image, variant)
    validate(text, image.el, f"{image.name}/{variant}")
    return text
