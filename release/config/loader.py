"""Load a config repo into the typed model, collecting every problem before giving up.

Parsing and per-file validation live here; the rules that look across files are in
`release.config.rules` (pure functions over what this module loaded), and
`check.load_checked`, the one validated-config loader, applies both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from release.config.source import ConfigSource
from release.config.yamldoc import Document, parse, problems_from
from release.errors import Problem
from release.model.channel import Channel
from release.model.image import ImageDefinition
from release.model.target import (
    DEFAULT_TARGET,
    DEFAULT_TARGET_NAME,
    AwsAmiTarget,
    AzureImageTarget,
    CloudStackTemplateTarget,
    FilesystemTarget,
    GceImageTarget,
    GcsTarget,
    OpenStackGlanceTarget,
    RsyncTarget,
    S3Target,
    Target,
)
from release.model.trust import TrustFile
from release.names import name_problem

IMAGES, CHANNELS, TARGETS, KEYS = "images", "channels", "targets", "keys"
TRUST_FILE = "keys/trust.yaml"

TARGET_TYPES: dict[str, type[BaseModel]] = {
    "filesystem": FilesystemTarget,
    "rsync": RsyncTarget,
    "s3": S3Target,
    "gcs": GcsTarget,
    "aws-ami": AwsAmiTarget,
    "gce-image": GceImageTarget,
    "cloudstack-template": CloudStackTemplateTarget,
    "azure-image": AzureImageTarget,
    "openstack-glance": OpenStackGlanceTarget,
}


T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Loaded(Generic[T]):
    """A valid object and the document it came from (for line numbers in later checks)."""

    value: T
    doc: Document


@dataclass
class ConfigRepo:
    """The whole desired state at one revision. Built only by `load`."""

    images: dict[str, Loaded[ImageDefinition]] = field(default_factory=dict)
    channels: dict[str, Loaded[Channel]] = field(default_factory=dict)
    targets: dict[str, Target] = field(default_factory=dict)
    target_docs: dict[str, Document] = field(default_factory=dict)
    trust: TrustFile = field(default_factory=TrustFile)
    trust_doc: Document | None = None
    key_files: dict[str, bytes] = field(default_factory=dict)
    revision: str | None = None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def image(self, name: str) -> ImageDefinition:
        return self.images[name].value

    def channel(self, name: str) -> Channel:
        return self.channels[name].value

    def frozen_images(self) -> MappingProxyType[str, ImageDefinition]:
        return MappingProxyType({k: v.value for k, v in self.images.items()})


def load(source: ConfigSource) -> ConfigRepo:
    """Every file of the repo, validated; problems are collected in `.problems`."""
    repo = ConfigRepo(revision=source.revision)
    for doc in _documents(source, IMAGES, repo.problems):
        image = _validate(doc, ImageDefinition, doc.data, repo.problems)
        if image is None:
            continue
        if image.name in repo.images:
            first = repo.images[image.name].doc.path
            repo.problems.append(
                doc.problem(("name",), f"duplicate image name {image.name!r}", f"also in {first}")
            )
            continue
        repo.images[image.name] = Loaded(image, doc)
    for doc in _documents(source, CHANNELS, repo.problems):
        data = _with_default_name(doc)
        channel = _validate(doc, Channel, data, repo.problems)
        if channel is None:
            continue
        stem = _stem(doc.path)
        if channel.name != stem:
            repo.problems.append(
                doc.problem(
                    ("name",),
                    f"channel name {channel.name!r} does not match its file name",
                    f"rename the file to channels/{channel.name}.yaml or drop `name:`",
                )
            )
        if channel.name in repo.channels:
            first = repo.channels[channel.name].doc.path
            repo.problems.append(
                doc.problem(("name",), f"duplicate channel {channel.name!r}", f"also in {first}")
            )
            continue
        repo.channels[channel.name] = Loaded(channel, doc)
    _load_targets(source, repo)
    _load_keys(source, repo)
    return repo


def _documents(source: ConfigSource, folder: str, problems: list[Problem]) -> list[Document]:
    docs = []
    for entry in source.entries(folder):
        if not entry.path.endswith((".yaml", ".yml")):
            continue
        if entry.is_link:
            problems.append(
                Problem(entry.path, "is a symbolic link", hint="config files must be plain files")
            )
            continue
        stem_problem = name_problem(_stem(entry.path))
        if stem_problem:
            problems.append(Problem(entry.path, f"file name {stem_problem}"))
            continue
        parsed = parse(entry.path, source.read(entry.path))
        if isinstance(parsed, Problem):
            problems.append(parsed)
        elif not isinstance(parsed.data, dict):
            problems.append(Problem(entry.path, "must be a YAML mapping (key: value lines)", 1))
        else:
            docs.append(parsed)
    return docs


def _validate(doc: Document, model: type[M], data: Any, problems: list[Problem]) -> M | None:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems.extend(problems_from(doc, model, exc))
        return None


def _stem(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0]


def _with_default_name(doc: Document) -> dict[str, Any]:
    data = dict(doc.data)
    data.setdefault("name", _stem(doc.path))
    return data


def _load_targets(source: ConfigSource, repo: ConfigRepo) -> None:
    for doc in _documents(source, TARGETS, repo.problems):
        name = _stem(doc.path)
        kind = doc.data.get("type")
        model = TARGET_TYPES.get(kind) if isinstance(kind, str) else None
        if model is None:
            repo.problems.append(
                doc.problem(
                    ("type",),
                    f"unknown target type {kind!r}" if kind else "missing required key 'type'",
                    f"one of: {', '.join(TARGET_TYPES)}",
                )
            )
            continue
        target = _validate(doc, model, doc.data, repo.problems)
        if target is not None:
            repo.targets[name] = target  # type: ignore[assignment]  # one of Target's members
            repo.target_docs[name] = doc
    if not repo.target_docs:
        repo.targets[DEFAULT_TARGET_NAME] = DEFAULT_TARGET


def _load_keys(source: ConfigSource, repo: ConfigRepo) -> None:
    for entry in source.entries(KEYS):
        if entry.path == TRUST_FILE:
            continue
        name = entry.path.rsplit("/", 1)[-1]
        if entry.is_link:
            repo.problems.append(Problem(entry.path, "is a symbolic link: keys must be files"))
            continue
        if name.endswith((".asc", ".gpg", ".pub", ".key", ".sec")) or "PRIVATE" in name.upper():
            repo.key_files[name] = source.read(entry.path)
    trust_entries = [e for e in source.entries(KEYS) if e.path == TRUST_FILE]
    if not trust_entries:
        return
    parsed = parse(TRUST_FILE, source.read(TRUST_FILE))
    if isinstance(parsed, Problem):
        repo.problems.append(parsed)
        return
    repo.trust_doc = parsed
    trust = _validate(parsed, TrustFile, parsed.data or {}, repo.problems)
    if trust is not None:
        repo.trust = trust
