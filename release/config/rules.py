"""Rules that look across files: references, formats vs targets, keys, versions, templates.

Pure: they read a loaded `ConfigRepo` (and, for versions, the one at a base revision) and
append `Problem`s. What a key file holds is asked of the `KeyParser` the caller passes (the
edge passes gpg's, `keyinfo.read_key_bytes`), so validation itself runs no tool.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from release.config.loader import ConfigRepo
from release.config.yamldoc import Document
from release.errors import Problem
from release.integrity.keyinfo import is_armored_public, looks_secret
from release.model.agents import missing_repos
from release.model.base import version_key
from release.model.channel import LATEST, Channel
from release.model.target import ACCEPTS, AzureImageTarget, CloudStackTemplateTarget
from release.model.template import contradictions

MIRRORS = ("filesystem", "rsync", "s3", "gcs")

VersionHistory = Callable[[str], Iterable[str]]  # image name -> versions it had in git history


class ParsedKey(Protocol):
    """What the rules ask of one key in a key file (`keyinfo.KeyInfo` is one)."""

    @property
    def fingerprint(self) -> str: ...

    @property
    def secret(self) -> bool: ...

    @property
    def is_rsa(self) -> bool: ...


KeyParser = Callable[[bytes], Sequence[ParsedKey]]  # a key file's bytes -> its keys (none: [])


def check_repo(
    repo: ConfigRepo,
    keys: KeyParser,
    base: ConfigRepo | None = None,
    history: VersionHistory | None = None,
) -> None:
    _templates(repo)
    _firmware_excludes(repo)
    _target_refs(repo)
    _channels(repo, history)
    _keys(repo, keys)
    if base is not None:
        _versions(repo, base)


def _suggest(name: str, known: Iterable[str]) -> str:
    options = sorted(known)
    close = difflib.get_close_matches(name, options, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"known: {', '.join(options)}" if options else "none are defined"


def _templates(repo: ConfigRepo) -> None:
    for loaded in repo.images.values():
        image = loaded.value
        for variant in image.variants:
            for fieldname, why in contradictions(image.template_for(variant)):
                loc: tuple[str, ...] = ("variants", variant, "template", fieldname)
                if loc not in loaded.doc.lines:
                    loc = ("template", fieldname)
                repo.problems.append(loaded.doc.problem(loc, f"variant {variant}: {why}"))
            for missing in missing_repos(image, variant):
                at = ("variants", variant) if missing.at_variant else ()
                place = (*at, "packages", missing.index)
                repo.problems.append(loaded.doc.problem(place, missing.message, missing.hint))


# The firmware package each EL's kernel requires: excluding it leaves dnf no kernel to install.
_KERNEL_FIRMWARE = {6: "kernel-firmware", 7: "linux-firmware"}


def _firmware_excludes(repo: ConfigRepo) -> None:
    for loaded in repo.images.values():
        image = loaded.value
        needed = _KERNEL_FIRMWARE[image.el]
        places: list[tuple[tuple[str | int, ...], str]] = [
            (("exclude", i), p) for i, p in enumerate(image.exclude)
        ]
        for name, variant in image.variants.items():
            places += [(("variants", name, "exclude", i), p) for i, p in enumerate(variant.exclude)]
        for loc, pattern in places:
            if fnmatch.fnmatchcase(needed, pattern):
                repo.problems.append(
                    loaded.doc.problem(
                        loc,
                        f"{pattern!r} excludes {needed}, which EL{image.el}'s kernel requires:"
                        " dnf would find no installable kernel",
                        "drop it: the template erases every *-firmware package after the install",
                    )
                )


def _channels(repo: ConfigRepo, history: VersionHistory | None) -> None:
    for name, loaded in repo.channels.items():
        known_image = _channel_image(repo, loaded.value, loaded.doc, history)
        _follow(repo, name)
        _channel_targets(repo, name, known_image)
        _channel_keys(repo, name)
    unsigned = [name for name in repo.channels if not repo.trust.allowed_fingerprints(name)]
    if unsigned:
        repo.warnings.append(
            Problem(
                "keys/trust.yaml",
                f"no trusted key may sign {', '.join(unsigned)}: they cannot be published yet",
                hint="add a public key to keys/ and list it in keys/trust.yaml",
            )
        )


def _channel_image(
    repo: ConfigRepo, channel: Channel, doc: Document, history: VersionHistory | None
) -> bool:
    """The channel's image exists, and its pinned version is the image's or one it had."""
    image_entry = repo.images.get(channel.image)
    if image_entry is None:
        repo.problems.append(
            doc.problem(
                ("image",), f"unknown image {channel.image!r}", _suggest(channel.image, repo.images)
            )
        )
        return False
    if channel.version not in (None, LATEST, image_entry.value.version):
        known = set(history(channel.image)) if history else set()
        if channel.version not in known:
            repo.problems.append(
                doc.problem(
                    ("version",),
                    f"image {channel.image!r} has no version {channel.version!r}"
                    f" (current: {image_entry.value.version})",
                    "pin a version the image definition had, or `latest`",
                )
            )
    return True


def _channel_targets(repo: ConfigRepo, name: str, known_image: bool) -> None:
    loaded = repo.channels[name]
    for i, target in enumerate(loaded.value.targets):
        if target not in repo.targets:
            repo.problems.append(
                loaded.doc.problem(
                    ("targets", i), f"unknown target {target!r}", _suggest(target, repo.targets)
                )
            )
        elif known_image:
            _formats_for_target(repo, name, i, target)


def _channel_keys(repo: ConfigRepo, name: str) -> None:
    loaded = repo.channels[name]
    for i, key in enumerate(loaded.value.keys):
        trusted = repo.trust.keys.get(key)
        if trusted is None:
            repo.problems.append(
                loaded.doc.problem(
                    ("keys", i),
                    f"unknown key {key!r} (not in keys/trust.yaml)",
                    _suggest(key, repo.trust.keys),
                )
            )
        elif why := trusted.refusal(name) or repo.trust.refusal(trusted.fingerprint, name):
            repo.problems.append(
                loaded.doc.problem(
                    ("keys", i),
                    f"key {key!r} may not sign channel {name!r} by keys/trust.yaml: {why}",
                    "list a key that may sign it (or add the channel to the key's `channels`)",
                )
            )


def _follow(repo: ConfigRepo, name: str) -> None:
    loaded = repo.channels[name]
    seen = [name]
    current = loaded.value
    while current.follow is not None:
        nxt = repo.channels.get(current.follow)
        if nxt is None:
            repo.problems.append(
                loaded.doc.problem(
                    ("follow",),
                    f"follows unknown channel {current.follow!r}",
                    _suggest(current.follow, repo.channels),
                )
            )
            return
        if nxt.value.name in seen:
            cycle = " -> ".join([*seen, nxt.value.name])
            repo.problems.append(
                loaded.doc.problem(("follow",), f"channels follow in a cycle: {cycle}")
            )
            return
        if nxt.value.image != loaded.value.image:
            repo.problems.append(
                loaded.doc.problem(
                    ("follow",),
                    f"follows channel {nxt.value.name!r} of image {nxt.value.image!r},"
                    f" but this channel is for {loaded.value.image!r}",
                )
            )
            return
        seen.append(nxt.value.name)
        current = nxt.value


def _formats_for_target(repo: ConfigRepo, channel_name: str, index: int, target: str) -> None:
    loaded = repo.channels[channel_name]
    image = repo.image(loaded.value.image)
    kind = repo.targets[target].type
    accepted = set(ACCEPTS[kind])
    stack = {
        "aws-ami": "aws",
        "gce-image": "gce",
        "openstack-glance": "openstack",
        "cloudstack-template": "cloudstack",
    }.get(kind)
    variants = [v for v in image.variants if stack is None or image.stack_of(v) == stack]
    if kind == "azure-image":
        variants = azure_variants(repo, channel_name, index, target)
    if stack is not None and not variants:
        repo.problems.append(
            loaded.doc.problem(
                ("targets", index),
                f"target {target!r} ({kind}) needs a {stack} variant,"
                f" but image {image.name!r} has none",
                f"add a `{stack}` variant to the image or drop the target",
            )
        )
        return
    for variant in variants:
        if not accepted.intersection(image.formats_for(variant)):
            repo.problems.append(
                loaded.doc.problem(
                    ("targets", index),
                    f"target {target!r} ({kind}) takes only {' or '.join(sorted(accepted))},"
                    f" but image {image.name!r} variant {variant} produces"
                    f" {', '.join(image.formats_for(variant))}",
                    "add the format to the image's `formats`",
                )
            )


def azure_variants(repo: ConfigRepo, channel_name: str, index: int, target: str) -> list[str]:
    """The variant an azure-image target takes the vhd of: its `variant`, or every variant
    (one of which must make a vhd)."""
    loaded = repo.channels[channel_name]
    image = repo.image(loaded.value.image)
    azure = repo.targets[target]
    chosen = azure.variant if isinstance(azure, AzureImageTarget) else None
    if chosen is None:
        makes_vhd = [v for v in image.variants if "vhd" in image.formats_for(v)]
        return makes_vhd[:1] or list(image.variants)[:1]
    if chosen not in image.variants:
        repo.problems.append(
            loaded.doc.problem(
                ("targets", index),
                f"target {target!r} (azure-image) takes variant {chosen!r},"
                f" but image {image.name!r} has no such variant",
                f"one of: {', '.join(image.variants)}",
            )
        )
        return []
    return [chosen]


def _target_refs(repo: ConfigRepo) -> None:
    """A cloudstack-template target names the mirror its qcow2 is downloaded from."""
    for name, target in sorted(repo.targets.items()):
        if not isinstance(target, CloudStackTemplateTarget):
            continue
        mirror = target.mirror
        doc = repo.target_docs[name]
        if mirror not in repo.targets:
            repo.problems.append(
                doc.problem(
                    ("mirror",), f"unknown target {mirror!r}", _suggest(mirror, repo.targets)
                )
            )
        elif repo.targets[mirror].type not in MIRRORS:
            repo.problems.append(
                doc.problem(
                    ("mirror",),
                    f"target {mirror!r} is a {repo.targets[mirror].type} registry, not a mirror",
                    f"name a {', '.join(MIRRORS)} target CloudStack can download from",
                )
            )


def _keys(repo: ConfigRepo, parse: KeyParser) -> None:
    fingerprints: dict[str, set[str]] = {}
    for name, data in sorted(repo.key_files.items()):
        path = f"keys/{name}"
        if looks_secret(data):
            repo.problems.append(
                Problem(
                    path,
                    "is a PRIVATE key: never commit a private key",
                    hint="delete it from the repo and its history, and revoke it: it is exposed",
                )
            )
            continue
        keys = parse(data) if is_armored_public(data) else []
        if not keys or any(key.secret for key in keys):
            repo.problems.append(
                Problem(
                    path,
                    "is not an ASCII-armored OpenPGP public key",
                    hint="export it with 'gpg --armor --export FINGERPRINT'",
                )
            )
            continue
        fingerprints[name] = {key.fingerprint for key in keys}
        if not all(key.is_rsa for key in keys):
            repo.warnings.append(
                Problem(path, "is not an RSA key: EL6/EL7 clients (gpg 2.0) cannot verify with it")
            )
    doc = repo.trust_doc
    if doc is None:
        return
    for keyname, trusted in repo.trust.keys.items():
        found = fingerprints.get(trusted.file)
        if trusted.file not in repo.key_files:
            repo.problems.append(
                doc.problem(("keys", keyname, "file"), f"no key file keys/{trusted.file}")
            )
        elif found is not None and trusted.fingerprint not in found:
            repo.problems.append(
                doc.problem(
                    ("keys", keyname, "fingerprint"),
                    f"fingerprint {trusted.fingerprint} is not the key in keys/{trusted.file}"
                    f" (it holds {', '.join(sorted(found))})",
                )
            )


def _versions(repo: ConfigRepo, base: ConfigRepo) -> None:
    for name, loaded in repo.images.items():
        old = base.images.get(name)
        if old is None:
            continue
        new_v, old_v = loaded.value.version, old.value.version
        if version_key(new_v) < version_key(old_v):
            repo.problems.append(
                loaded.doc.problem(
                    ("version",),
                    f"version goes backwards: {new_v} < {old_v} at the base revision",
                    "versions only grow; bump to a version above the base's",
                )
            )
        elif new_v == old_v and loaded.value != old.value:
            repo.problems.append(
                loaded.doc.problem(
                    ("version",),
                    f"the definition changed but its version is still {new_v}",
                    "bump the version: a released version is immutable",
                )
            )
