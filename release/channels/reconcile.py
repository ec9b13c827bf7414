"""Make the world match git: build, publish and index what each channel's targets lack.

The desired state is the config at HEAD; the actual state is what each mirror target's
published channel index says, and what each registry target (AMI, GCE or Glance image) holds.
In three parts: `observe.py` reads the targets, `differences.py` decides (pure) which
(channel, target)s differ, and this module acts on them in an order that keeps a crash safe.
For each that differs, `apply.py` makes the sealed release (or reuses it); registry targets
first, so a channel's index never names a release its registries lack; then per mirror,
under the target's index lock: re-read the index (another writer may have done it
meanwhile), publish, then write the new signed index and snapshot, last (`indexwriter.py`).
A channel whose registry failed keeps its indexes where they were. Then the channels a
snapshot should no longer list are retired, the pages of every target written follow, and
a rollback deprecates the newer image in the registries.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from release.channels import registries, site
from release.channels.apply import Applier
from release.channels.differences import (
    Desired,
    Pending,
    desired,
    differences,
    retired,
    selected_channels,
)
from release.channels.indexwriter import Clock, check_signers, retire, utcnow
from release.channels.observe import observe, snapshot_listings
from release.channels.outcome import ChannelOutcome, Status, TargetOutcome, in_sync
from release.channels.state import load_state
from release.config.gitrepo import NotARepository, UnknownRevision, open_repo
from release.config.loader import ConfigRepo
from release.errors import InvalidInput, ReleaseError
from release.integrity.signing import SigningConfig, open_signer
from release.pipeline import Workspace
from release.publish.indexstore import IndexStore
from release.publish.journal import Journal
from release.publish.options import Options
from release.publish.registry import Patience
from release.publish.retry import RetrySettings

log = logging.getLogger(__name__)


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
    cache = workspace.root / "vouched.json"
    result, want, pending, stores = _survey(repo, config, head, names, options, cache)
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
            run = Applier(repo, config, head, want.targets, stores, workspace, signer,
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
    cache: Path | None,
) -> tuple[ReconcileResult, Desired, list[Pending], dict[str, IndexStore]]:
    """Read the targets of channels `names` and decide what differs: the outcomes of what is
    in sync, what git asks for, what differs, and the mirrors' stores. Trust verdicts are
    remembered in `cache` (None: not remembered)."""
    want = desired(config, names, repo)
    observed, stores = observe(repo, want, options, cache)
    pending = differences(want, observed)
    result = ReconcileResult(head, in_sync(want, observed, pending))
    return result, want, pending, stores


def _retiring(
    config: ConfigRepo, want: Desired, options: Options | None
) -> dict[str, tuple[IndexStore, list[str]]]:
    """Per mirror: its store, and the channels its snapshot lists that no longer publish there."""
    listings = snapshot_listings(want.targets, options)
    channels = {name: loaded.value for name, loaded in config.channels.items()}
    gone = retired(channels, {name: names for name, (_, names) in listings.items()})
    return {name: (listings[name][0], names) for name, names in gone.items()}


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
        return open_repo(repo).commit("HEAD").sha
    except (NotARepository, UnknownRevision) as exc:
        raise InvalidInput(f"{repo}: not a git repository with a commit") from exc


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
