"""Make the world match git: build, publish and index what each channel's targets lack.

The desired state is the config at HEAD; the actual state is what each mirror target's
published channel index says, and what each registry target (AMI, GCE or Glance image) holds.
`observe.py` reads the targets, `differences.py` decides (pure) which (channel, target)
differ, and this module acts on them: make the sealed release (or reuse it); registry
targets first, so a channel's index never names a release its registries lack; then per
mirror, under the target's index lock: re-read the index (another writer may have done it
meanwhile), publish, then write the new signed index and snapshot, last (`indexwriter.py`).
A channel whose registry failed keeps its indexes where they were.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import git

from release.channels import index as idx
from release.channels import registries, site
from release.channels.differences import (
    Desired,
    Observed,
    Pending,
    desired,
    differences,
    in_snapshot,
    is_rollback,
    points_at,
    retired,
    selected_channels,
)
from release.channels.indexwriter import (
    Clock,
    check_signers,
    indexed,
    read_stored_index,
    retire,
    utcnow,
    write_index,
    write_snapshot,
)
from release.channels.maker import definition_at_version, make
from release.channels.observe import observe, snapshot_listings, vouched_now, vouched_snapshot_now
from release.channels.resolve import Release
from release.channels.state import StateInvalid, load_state
from release.config.loader import ConfigRepo
from release.errors import InvalidInput, ReleaseError
from release.integrity.signing import Signer, SigningConfig, open_signer
from release.model.target import Target
from release.pipeline import MadeRelease, Workspace
from release.publish.api import publish
from release.publish.indexstore import IndexStore, Stored
from release.publish.journal import Journal
from release.publish.options import Options
from release.publish.registry import ImageResult, Patience
from release.publish.retry import RetrySettings

log = logging.getLogger(__name__)

Status = Literal["up-to-date", "published", "failed"]


@dataclass(frozen=True)
class TargetOutcome:
    target: str
    status: Status
    serial: int | None = None  # of the channel index (mirror targets)
    detail: str = ""
    images: dict[str, str] = field(default_factory=dict)  # registries: region/project -> image


@dataclass
class ChannelOutcome:
    channel: str
    image: str
    version: str
    targets: list[TargetOutcome] = field(default_factory=list)
    release_dir: str | None = None
    built: bool = False  # a release was made in this run (not reused)


@dataclass
class ReconcileResult:
    revision: str
    channels: list[ChannelOutcome] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)  # "<channel> on <target>", out of snapshots

    def _statuses(self) -> list[Status]:
        return [t.status for c in self.channels for t in c.targets]

    @property
    def noop(self) -> bool:
        """Nothing differed: every target already had what git asks for."""
        return not self.retired and all(s == "up-to-date" for s in self._statuses())

    @property
    def ok(self) -> bool:
        return "failed" not in self._statuses()

    def to_dict(self) -> dict[str, object]:
        return {
            "revision": self.revision,
            "noop": self.noop,
            "ok": self.ok,
            "warnings": self.warnings,
            "retired": self.retired,
            "channels": [
                {
                    "channel": c.channel,
                    "image": c.image,
                    "version": c.version,
                    "built": c.built,
                    "release_dir": c.release_dir,
                    "targets": [t.__dict__ for t in c.targets],
                }
                for c in self.channels
            ],
        }


def reconcile(
    repo: Path,
    *,
    workspace: Workspace,
    signing: SigningConfig,
    journal: Path | None = None,
    channels: Sequence[str] | None = None,
    options: Options | None = None,
    clock: Clock = utcnow,
    patience: Patience | None = None,
    retry: RetrySettings | None = None,
) -> ReconcileResult:
    """Publish what the targets of `channels` (all when None) lack; see the module docstring.

    An invalid config at HEAD is refused (StateInvalid, exit 2) before anything is touched.
    `patience` paces the waits on cloud imports and copies (default: the registries' own);
    `retry` is the publish retry budget per call (default: publishing's own).
    """
    repo = Path(repo).absolute()
    config = load_state(str(repo), "HEAD")
    head = _head(repo)
    names = selected_channels(config, channels)
    result, want, pending, stores = _survey(repo, config, head, names, options, workspace.root)
    retiring = _retiring(config, want, options) if channels is None else {}
    behind = site.stale_stores(want.targets, options) if channels is None else {}
    if not pending and not retiring and not behind:
        return result
    with open_signer(signing) as signer:
        channels_written = sorted({p.channel.name for p in pending})
        check_signers(config, channels_written, bool(retiring or behind), signer.fingerprint)
        journal_path = journal or workspace.root / "journal.sqlite"
        journal_path.parent.mkdir(parents=True, exist_ok=True)
        with Journal(journal_path) as publish_journal:
            run = _Run(repo, config, head, want.targets, stores, workspace, signer,
                       publish_journal, options, clock, patience, retry)  # fmt: skip
            for item in pending:
                run.apply(item, _outcome(result, item))
        for target_name, (store, gone) in sorted(retiring.items()):
            retire(store, gone, signer, clock)
            result.retired.extend(f"{name} on {target_name}" for name in gone)
        written = {p.target_name: stores[p.target_name] for p in pending if not p.registry}
        written.update({name: store for name, (store, _) in retiring.items()})
        result.warnings.extend(site.catch_up_all({**behind, **written}, set(written), signer))
    for channel, newer in sorted(run.rolled_back.items()):
        _deprecate(config, channel, newer, result)
    return result


def _survey(
    repo: Path,
    config: ConfigRepo,
    head: str,
    names: list[str],
    options: Options | None,
    workspace: Path | None,
) -> tuple[ReconcileResult, Desired, list[Pending], dict[str, IndexStore]]:
    """Read the targets of channels `names` and decide what differs: the outcomes of what is
    in sync, what git asks for, what differs, and the mirrors' stores. Trust verdicts are
    remembered in the `workspace` (None: not remembered)."""
    want = desired(config, names, repo)
    cache = workspace / "vouched.json" if workspace else None
    observed, stores = observe(repo, want, options, cache)
    pending = differences(want, observed)
    result = ReconcileResult(head, _in_sync(want, observed, pending))
    return result, want, pending, stores


def _in_sync(want: Desired, observed: Observed, pending: list[Pending]) -> list[ChannelOutcome]:
    """One outcome per channel, naming the targets that already hold what git asks for."""
    differ = {(p.channel.name, p.target_name) for p in pending}
    outcomes = []
    for wanted in want.channels:
        name, release = wanted.channel.name, wanted.release
        outcome = ChannelOutcome(name, release.image, release.version)
        for target_name in wanted.channel.targets:
            key = (name, target_name)
            if key in differ:
                continue
            if key in observed.registry:
                outcome.targets.append(_registry_outcome(target_name, observed.registry[key]))
            else:
                serial = observed.indexes[key].index.serial
                outcome.targets.append(TargetOutcome(target_name, "up-to-date", serial))
        outcomes.append(outcome)
    return outcomes


def _retiring(
    config: ConfigRepo, want: Desired, options: Options | None
) -> dict[str, tuple[IndexStore, list[str]]]:
    """Per mirror: its store, and the channels its snapshot lists that no longer publish there."""
    listings = snapshot_listings(want.targets, options)
    channels = {name: loaded.value for name, loaded in config.channels.items()}
    gone = retired(channels, {name: names for name, (_, names) in listings.items()})
    return {name: (listings[name][0], names) for name, names in gone.items()}


@dataclass
class _Run:
    """One reconcile's means, and what it did so far to the (channel, target)s that differ."""

    repo: Path
    config: ConfigRepo
    head: str
    targets: Mapping[str, Target]
    stores: dict[str, IndexStore]
    workspace: Workspace
    signer: Signer
    journal: Journal
    options: Options | None
    clock: Clock
    patience: Patience | None
    retry: RetrySettings | None
    made: dict[Release, MadeRelease] = field(default_factory=dict)
    rolled_back: dict[str, str] = field(default_factory=dict)  # channel -> newer version left
    held: dict[str, str] = field(default_factory=dict)  # channel -> why its indexes stay

    def apply(self, item: Pending, outcome: ChannelOutcome) -> None:
        """Publish to one (channel, target) and record how it went. A failed registry holds
        its channel's mirrors back; a config problem stops the run."""
        name = item.channel.name
        if not item.registry and name in self.held:
            outcome.targets.append(TargetOutcome(item.target_name, "failed", None, self.held[name]))
            return
        try:
            outcome.targets.append(self._publish(item, outcome))
        except (InvalidInput, StateInvalid):
            raise
        except ReleaseError as exc:
            log.error("%s on %s: %s", name, item.target_name, exc)
            outcome.targets.append(TargetOutcome(item.target_name, "failed", None, str(exc)))
            if item.registry:
                self.held[name] = (
                    f"not published: registry target {item.target_name} failed, so the"
                    " channel's index stays where it was; rerun once it is fixed"
                )

    def _publish(self, item: Pending, outcome: ChannelOutcome) -> TargetOutcome:
        release = self.made.get(item.release)
        if release is None:
            release = make(self.repo, self.config, self.head, item.release, self.workspace,
                            self.signer)  # fmt: skip
            self.made[item.release] = release
        outcome.release_dir = str(release.directory)
        outcome.built = outcome.built or not release.reused
        if isinstance(item.target, registries.RegistryTarget):
            image, _ = definition_at_version(self.repo, self.config, self.head, item.release)
            found = registries.publish_image(item.target, release.directory, image, self.journal,
                                             self.options, self.patience, self.targets)  # fmt: skip
            return _registry_outcome(item.target_name, found)
        done, previous = self._publish_and_index(item, release)
        if previous is not None and is_rollback(previous, item.release):
            self.rolled_back[item.channel.name] = previous.current.version
        return done

    def _publish_and_index(
        self, item: Pending, release: MadeRelease
    ) -> tuple[TargetOutcome, idx.ChannelIndex | None]:
        """Publish and index one (channel, mirror) under its lock; the outcome and the index
        it replaced. The index is read again first: another run may have written it."""
        name = item.channel.name
        store = self.stores[item.target_name]
        with store.lock():
            stored, current = read_stored_index(store, name)
            if (
                stored is not None
                and current is not None
                and points_at(current, item.release)
                and vouched_now(self.repo, store, name, stored)
            ):
                return self._snapshot_only(item, store, stored, current), None
            summary = publish(release.directory, item.target, self.journal, options=self.options,
                              retry=self.retry, show_progress=False)  # fmt: skip
            if not summary.ok:
                return TargetOutcome(item.target_name, "failed", None, summary.error or ""), None
            serial = write_index(store, name, indexed(release), item.channel.index_ttl,
                                 self.signer, self.clock)  # fmt: skip
        sent = len(summary.published)
        return TargetOutcome(item.target_name, "published", serial, f"{sent} files sent"), current

    def _snapshot_only(
        self, item: Pending, store: IndexStore, stored: Stored, current: idx.ChannelIndex
    ) -> TargetOutcome:
        """The index is in place (another run wrote it): done, or the snapshot an interrupted
        run did not get to lists it now."""
        name = item.channel.name
        if in_snapshot(vouched_snapshot_now(self.repo, store), name, stored.data):
            detail = "done by another run"
            return TargetOutcome(item.target_name, "up-to-date", current.serial, detail)
        write_snapshot(store, {name: stored.data}, item.channel.index_ttl, self.signer, self.clock)
        detail = "0 files sent; the snapshot now lists the index an interrupted run wrote"
        return TargetOutcome(item.target_name, "published", current.serial, detail)


def _deprecate(config: ConfigRepo, channel: str, newer: str, result: ReconcileResult) -> None:
    """After a rollback, the newer image must not be what a GCE image family resolves to, nor
    a public CloudStack template, nor a gallery's latest version."""
    outcome = next(c for c in result.channels if c.channel == channel)
    for target_name in config.channel(channel).targets:
        target = config.targets[target_name]
        if not isinstance(target, registries.RegistryTarget):
            continue
        try:
            detail = registries.roll_back(target, outcome.image, newer, outcome.version)
        except ReleaseError as exc:
            log.error("%s on %s: %s", channel, target_name, exc)
            outcome.targets.append(TargetOutcome(target_name, "failed", None, str(exc)))
            continue
        if detail is not None:
            outcome.targets.append(TargetOutcome(target_name, "published", None, detail))


def _head(repo: Path) -> str:
    try:
        return str(git.Repo(repo).head.commit.hexsha)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError) as exc:
        raise InvalidInput(f"{repo}: not a git repository with a commit") from exc


def _registry_outcome(target: str, found: ImageResult | Mapping[str, str]) -> TargetOutcome:
    """`published` for an image made by this run, else `up-to-date`, naming the images."""
    images = dict(found.images if isinstance(found, ImageResult) else found)
    where = ", ".join(f"{image} in {place}" for place, image in images.items())
    if isinstance(found, ImageResult) and found.created:
        return TargetOutcome(target, "published", None, f"{found.name}: {where}", images)
    return TargetOutcome(target, "up-to-date", None, where, images)


def _outcome(result: ReconcileResult, item: Pending) -> ChannelOutcome:
    return next(c for c in result.channels if c.channel == item.channel.name)


@dataclass(frozen=True)
class Difference:
    """A (channel, target) that reconcile would publish to (registry: import an image)."""

    channel: str
    target: str
    registry: bool


def compare(
    repo: Path, config: ConfigRepo, options: Options | None = None
) -> tuple[ReconcileResult, list[Difference], dict[str, list[str]]]:
    """The read-only comparison reconcile starts with, for `release status`: the outcomes of
    what is in sync, what differs, and per target the channels its snapshot would retire."""
    names = selected_channels(config, None)
    result, want, pending, _ = _survey(repo, config, _head(repo), names, options, None)
    differ = [Difference(p.channel.name, p.target_name, p.registry) for p in pending]
    retiring = {name: gone for name, (_, gone) in _retiring(config, want, options).items()}
    return result, differ, retiring
