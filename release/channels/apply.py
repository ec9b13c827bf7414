"""Publish to one (channel, target) that differs, in the order that keeps a crash safe.

The release is made (or reused) first. A registry target imports its image. A mirror is
written under its index lock: the index is read again (another writer may have done it
meanwhile), the release is published, then the new signed index and the snapshot are
written last (`indexwriter.py`). A failed registry holds back its channel's mirrors for the
rest of the run, so no index names a release a registry lacks.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from release.channels import index as idx
from release.channels import registries
from release.channels.differences import Pending, in_snapshot, is_rollback, points_at
from release.channels.indexwriter import (
    Clock,
    indexed,
    read_stored_index,
    write_index,
    write_snapshot,
)
from release.channels.maker import definition_at_version, make
from release.channels.observe import vouched_now, vouched_snapshot_now
from release.channels.outcome import ChannelOutcome, TargetOutcome, registry_outcome
from release.channels.resolve import Release
from release.channels.state import StateInvalid
from release.config.loader import ConfigRepo
from release.errors import InvalidInput, ReleaseError
from release.integrity.signing import Signer
from release.model.target import Target
from release.pipeline import MadeRelease, Workspace
from release.publish.api import publish
from release.publish.indexstore import IndexStore, Stored
from release.publish.journal import Journal
from release.publish.options import Options
from release.publish.registry import Patience
from release.publish.retry import RetrySettings

log = logging.getLogger(__name__)


@dataclass
class Applier:
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
        """Make the release (once per run), then import it (registry) or publish and index it."""
        release = self.made.get(item.release)
        if release is None:
            release = make(self.repo, self.config, self.head, item.release, self.workspace,
                            self.signer)  # fmt: skip
            self.made[item.release] = release
        outcome.release_dir = str(release.directory)
        outcome.built = outcome.built or not release.reused
        if isinstance(item.target, registries.RegistryTarget):
            image, _ = definition_at_version(self.repo, self.config, self.head, item.release)
            found = registries.publish_image(item.target, release.directory, image,
                                             self.journal, self.options, self.patience,
                                             mirrors=self.targets)  # fmt: skip
            return registry_outcome(item.target_name, found)
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
