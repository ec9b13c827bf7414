"""Make the world match git: build, publish and index what each channel's targets lack.

The desired state is the config at HEAD; the actual state is what each mirror target's
published channel index says, and what each registry target (AMI, GCE or Glance image) holds.
For each (channel, target) that differs: make the sealed release (or reuse it); registry
targets first, so a channel's index never names a release its registries lack; then per
mirror, under the target's index lock: re-read the index (another writer may have done it
meanwhile), publish, then write the new signed index and snapshot, last. A channel whose
registry failed keeps its indexes where they were.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from release.channels import index as idx
from release.channels import registries, site
from release.channels.resolve import Release, resolve
from release.channels.state import StateInvalid, load_state
from release.channels.vouched import (
    UNTRUSTED,
    Untrusted,
    Voucher,
    vouched_index,
    vouched_snapshot,
    voucher,
)
from release.config.gitrepo import NotARepository, UnknownRevision, open_repo
from release.config.history import repository_url, version_of
from release.config.loader import ConfigRepo
from release.errors import InvalidInput, OperationError, ReleaseError
from release.integrity.manifest import MANIFEST
from release.integrity.signing import Signer, SigningConfig, open_signer
from release.model.base import version_key
from release.model.channel import Channel
from release.model.image import ImageDefinition
from release.model.target import FilesystemTarget, Target
from release.pipeline import MadeRelease, Workspace, is_sealed, make_release
from release.publish.api import publish
from release.publish.indexstore import Changed, IndexStore, Stored, signed_write
from release.publish.journal import Journal
from release.publish.options import Options
from release.publish.registry import ImageResult, Patience
from release.publish.retry import RetrySettings
from release.publish.targets import holds_index, open_index_store

log = logging.getLogger(__name__)

CAS_ATTEMPTS = 5
SNAPSHOT_TTL = 30 * 86400  # a snapshot written only to retire channels (the channel default)
Clock = Callable[[], dt.datetime]
Status = Literal["up-to-date", "published", "failed"]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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


@dataclass(frozen=True)
class _Pending:
    channel: Channel
    release: Release
    target_name: str
    target: Target
    store: IndexStore | None  # None: a registry target (it holds no index)


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
    result = ReconcileResult(head)
    names = selected_channels(config, channels)
    cache = workspace.root / "vouched.json"
    pending = _differences(repo, config, names, options, result, cache)
    retiring = _retiring(repo, config, options) if channels is None else {}
    targets = {name: local_target(t, repo) for name, t in config.targets.items()}
    behind = site.stale_stores(targets, options) if channels is None else {}
    if not pending and not retiring and not behind:
        return result
    with open_signer(signing) as signer:
        for channel in sorted({p.channel.name for p in pending}):
            check_signer(config, channel, signer.fingerprint)
        if retiring or behind:
            check_signer(config, None, signer.fingerprint)
        journal_path = journal or workspace.root / "journal.sqlite"
        journal_path.parent.mkdir(parents=True, exist_ok=True)
        made: dict[Release, MadeRelease] = {}
        rolled_back: dict[str, str] = {}  # channel -> the newer version it left
        held: dict[str, str] = {}  # channel -> why its indexes stay where they are
        with Journal(journal_path) as publish_journal:
            for item in pending:
                outcome = _outcome(result, item)
                if item.store is not None and item.channel.name in held:
                    detail = held[item.channel.name]
                    outcome.targets.append(TargetOutcome(item.target_name, "failed", None, detail))
                    continue
                try:
                    release = made.get(item.release)
                    if release is None:
                        release = _make(repo, config, head, item.release, workspace, signer)
                        made[item.release] = release
                    outcome.release_dir = str(release.directory)
                    outcome.built = outcome.built or not release.reused
                    if isinstance(item.target, registries.RegistryTarget):
                        image, _ = definition_at_version(repo, config, head, item.release)
                        found = registries.publish_image(
                            item.target,
                            release.directory,
                            image,
                            publish_journal,
                            options,
                            patience,
                            mirrors={n: local_target(t, repo) for n, t in config.targets.items()},
                        )
                        outcome.targets.append(_registry_outcome(item.target_name, found))
                        continue
                    done, previous = _publish_and_index(
                        item, release, publish_journal, signer, options, clock, retry, repo
                    )
                    outcome.targets.append(done)
                    if previous is not None and is_rollback(previous, item.release):
                        rolled_back[item.channel.name] = previous.current.version
                except (InvalidInput, StateInvalid):
                    raise
                except ReleaseError as exc:
                    log.error("%s on %s: %s", item.channel.name, item.target_name, exc)
                    outcome.targets.append(
                        TargetOutcome(item.target_name, "failed", None, str(exc))
                    )
                    if item.store is None:
                        held[item.channel.name] = (
                            f"not published: registry target {item.target_name} failed, so the"
                            " channel's index stays where it was; rerun once it is fixed"
                        )
        for target_name, (store, gone) in sorted(retiring.items()):
            retire(store, gone, signer, clock)
            result.retired.extend(f"{name} on {target_name}" for name in gone)
        written = {p.target_name: p.store for p in pending if p.store is not None}
        written.update({name: store for name, (store, _) in retiring.items()})
        result.warnings.extend(site.catch_up_all({**behind, **written}, set(written), signer))
    for channel, newer in sorted(rolled_back.items()):
        _deprecate(config, channel, newer, result)
    return result


def _retiring(
    repo: Path, config: ConfigRepo, options: Options | None
) -> dict[str, tuple[IndexStore, list[str]]]:
    """Per target: channels its snapshot lists that no longer publish there (deleted, or the
    target was dropped from the channel). Their indexes leave the snapshot, so a client of
    a retired channel is told it is no longer vouched for."""
    found = {}
    for target_name, target in sorted(config.targets.items()):
        target = local_target(target, repo)
        if not holds_index(target):
            continue
        store = open_index_store(target, options)
        stored = store.read(idx.SNAPSHOT_PATH)
        if stored is None:
            continue
        listed = parse_snapshot(store, stored.data).indexes
        gone = [
            name
            for name in listed
            if name not in config.channels or target_name not in config.channel(name).targets
        ]
        if gone:
            found[target_name] = (store, gone)
    return found


def retire(store: IndexStore, names: Sequence[str], signer: Signer, clock: Clock = utcnow) -> None:
    """Write the snapshot without `names`, under the lock, compare-and-swap."""

    def without(previous: idx.Snapshot | None) -> idx.Snapshot | None:
        gone = [n for n in names if previous is not None and n in previous.indexes]
        if previous is None or not gone:
            return None  # no snapshot, or another run retired them
        return idx.next_snapshot(previous, {}, clock(), SNAPSHOT_TTL, retired=gone)

    with store.lock():
        update_snapshot(store, signer, without)


def is_rollback(previous: idx.ChannelIndex, release: Release) -> bool:
    """The channel went to a lower version of the same image."""
    old = previous.current
    return old.image == release.image and version_key(release.version) < version_key(old.version)


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


def selected_channels(config: ConfigRepo, channels: Sequence[str] | None) -> list[str]:
    if channels is None:
        return sorted(config.channels)
    unknown = [c for c in channels if c not in config.channels]
    if unknown:
        known = ", ".join(sorted(config.channels)) or "none"
        raise InvalidInput(f"unknown channel {', '.join(unknown)} (channels at HEAD: {known})")
    return list(dict.fromkeys(channels))


def local_target(target: Target, repo: Path) -> Target:
    """A filesystem target's relative path is relative to the config repo's root."""
    if isinstance(target, FilesystemTarget) and not Path(target.path).is_absolute():
        return target.model_copy(update={"path": str(repo / target.path)})
    return target


def read_index(store: IndexStore, channel: str) -> idx.ChannelIndex | None:
    return _read_index(store, channel)[1]


def _read_index(store: IndexStore, channel: str) -> tuple[Stored | None, idx.ChannelIndex | None]:
    """The channel's index as stored (its bytes), and parsed."""
    stored = store.read(idx.INDEX_PATH.format(channel=channel))
    if stored is None:
        return None, None
    try:
        return stored, idx.parse_index(stored.data)
    except ValueError as exc:
        raise OperationError(f"{store.url}/channels/{channel}.json: {exc}") from exc


def _differences(
    repo: Path,
    config: ConfigRepo,
    names: list[str],
    options: Options | None,
    result: ReconcileResult,
    cache: Path | None = None,
) -> list[_Pending]:
    """Every (channel, target) whose published index does not point at the desired release,
    or is not listed by the snapshot, or is not signed by a key the trust file allows now."""
    with voucher(repo, cache) as judge:
        return _compare(repo, config, names, options, result, judge)


def _compare(
    repo: Path,
    config: ConfigRepo,
    names: list[str],
    options: Options | None,
    result: ReconcileResult,
    judge: Voucher,
) -> list[_Pending]:
    images = config.frozen_images()
    channels = {name: loaded.value for name, loaded in config.channels.items()}
    pending = []
    stores: dict[str, IndexStore] = {}
    snapshots: dict[str, idx.Snapshot | None] = {}
    for name in names:
        channel = channels[name]
        release = resolve(name, channels, images)
        outcome = ChannelOutcome(name, release.image, release.version)
        result.channels.append(outcome)
        mirrors = []
        for target_name in channel.targets:
            target = local_target(config.targets[target_name], repo)
            if isinstance(target, registries.RegistryTarget):
                found = registries.find_release(target, release.image, release.version)
                if found is not None:
                    outcome.targets.append(_registry_outcome(target_name, found))
                else:  # registries go first: a failed one holds the channel's indexes back
                    pending.append(_Pending(channel, release, target_name, target, None))
                continue
            store = stores.setdefault(target_name, open_index_store(target, options))
            stored, current = _read_index(store, name)
            if target_name not in snapshots:  # one read per target, not per channel
                snapshots[target_name] = vouched_snapshot(judge, store)
            if (
                current is not None
                and _points_at(current, release)
                and in_snapshot(snapshots[target_name], name, stored)
                and vouched_index(judge, store, name, stored)
            ):
                outcome.targets.append(TargetOutcome(target_name, "up-to-date", current.serial))
            else:
                mirrors.append(_Pending(channel, release, target_name, target, store))
        pending.extend(mirrors)
    return pending


def _registry_outcome(target: str, found: ImageResult | dict[str, str]) -> TargetOutcome:
    """`published` for an image made by this run, else `up-to-date`, naming the images."""
    images = found.images if isinstance(found, ImageResult) else found
    where = ", ".join(f"{image} in {place}" for place, image in images.items())
    if isinstance(found, ImageResult) and found.created:
        return TargetOutcome(target, "published", None, f"{found.name}: {where}", images)
    return TargetOutcome(target, "up-to-date", None, where, images)


def _points_at(index: idx.ChannelIndex, release: Release) -> bool:
    return (index.current.image, index.current.version) == (release.image, release.version)


def in_snapshot(snapshot: idx.Snapshot | None, channel: str, stored: Stored | None) -> bool:
    """Whether the snapshot lists the channel's index as stored. A writer killed between the
    index and the snapshot leaves an index no client accepts until the snapshot follows."""
    if stored is None or snapshot is None:
        return False
    return snapshot.indexes.get(channel) == idx.sha256_hex(stored.data)


def parse_snapshot(store: IndexStore, data: bytes) -> idx.Snapshot:
    try:
        return idx.Snapshot.model_validate_json(data)
    except ValidationError as exc:
        raise OperationError(f"{store.url}/{idx.SNAPSHOT_PATH}: not a snapshot: {exc}") from exc


def _vouched(repo: Path, store: IndexStore, channel: str, stored: Stored | None) -> bool:
    """Whether the stored index is signed by a key trusted now (checked afresh: this is the
    rare path of an index another or an interrupted run wrote)."""
    with voucher(repo) as judge:
        return vouched_index(judge, store, channel, stored)


def _vouched_snapshot(repo: Path, store: IndexStore) -> idx.Snapshot | None:
    with voucher(repo) as judge:
        return vouched_snapshot(judge, store)


def _outcome(result: ReconcileResult, item: _Pending) -> ChannelOutcome:
    return next(c for c in result.channels if c.channel == item.channel.name)


def allowed_signers(config: ConfigRepo, channel: str | None) -> set[str]:
    """Fingerprints keys/trust.yaml allows for `channel` (None: for any channel, e.g. a
    snapshot), narrowed to the channel's `keys`."""
    allowed = config.trust.allowed_fingerprints(channel)
    named = config.channel(channel).keys if channel in config.channels else ()
    if named:
        allowed &= {config.trust.keys[k].fingerprint for k in named if k in config.trust.keys}
    return allowed


def check_signer(config: ConfigRepo, channel: str | None, fingerprint: str) -> None:
    if fingerprint not in allowed_signers(config, channel):
        what = f"channel {channel}" if channel else "channel snapshots"
        why = config.trust.refusal(fingerprint, channel) or "not among the channel's `keys`"
        raise InvalidInput(
            f"signing key {fingerprint} may not sign {what} ({why}): sign with a key"
            " keys/trust.yaml allows for it (and the channel's `keys` names), or add one"
        )


def _make(
    repo: Path,
    config: ConfigRepo,
    head: str,
    release: Release,
    workspace: Workspace,
    signer: Signer,
) -> MadeRelease:
    directory = workspace.release_dir(release.image, release.version)
    if is_sealed(directory):  # no need to find the definition that made it
        return MadeRelease(release.image, release.version, directory, reused=True)
    image, commit = definition_at_version(repo, config, head, release)
    return make_release(
        image,
        commit=commit,
        workspace=workspace,
        signer=signer,
        repository=repository_url(repo),
        commit_time=open_repo(repo).commit(commit).time,
    )


def definition_at_version(
    repo: Path, config: ConfigRepo, head: str, release: Release
) -> tuple[ImageDefinition, str]:
    """The image definition that had `release.version`, and its commit (HEAD when current)."""
    image = config.image(release.image)
    if image.version == release.version:
        return image, head
    path = config.images[release.image].doc.path
    local = open_repo(repo)
    for commit in local.commits_touching(head, path):
        if version_of(local.read(commit, path) or b"") == release.version:
            try:
                old = load_state(str(repo), commit)
            except StateInvalid as exc:
                raise InvalidInput(
                    f"cannot build {release}: the config at {commit[:12]}, where {path}"
                    f" had that version, does not validate:\n{exc}"
                ) from exc
            return old.image(release.image), commit
    raise InvalidInput(
        f"cannot build {release}: {path} never had version {release.version} in the history"
        " behind HEAD; pin a version it had"
    )


def indexed(release: MadeRelease) -> idx.IndexedRelease:
    manifest = (release.directory / MANIFEST).read_bytes()
    return idx.IndexedRelease(
        image=release.image,
        version=release.version,
        path=f"{release.image}/{release.version}",
        manifest_sha256=hashlib.sha256(manifest).hexdigest(),
    )


def _publish_and_index(
    item: _Pending,
    release: MadeRelease,
    journal: Journal,
    signer: Signer,
    options: Options | None,
    clock: Clock,
    retry: RetrySettings | None,
    repo: Path,
) -> tuple[TargetOutcome, idx.ChannelIndex | None]:
    """Publish and index one (channel, target); the outcome and the index it replaced."""
    name = item.channel.name
    store = item.store
    if store is None:
        raise OperationError(f"{item.target_name}: a {item.target.type} target holds no index")
    with store.lock():
        stored, current = _read_index(store, name)
        if (
            stored is not None
            and current is not None
            and _points_at(current, item.release)
            and _vouched(repo, store, name, stored)
        ):
            if in_snapshot(_vouched_snapshot(repo, store), name, stored):
                detail = "done by another run"
                return TargetOutcome(item.target_name, "up-to-date", current.serial, detail), None
            write_snapshot(store, {name: stored.data}, item.channel.index_ttl, signer, clock)
            detail = "0 files sent; the snapshot now lists the index an interrupted run wrote"
            return TargetOutcome(item.target_name, "published", current.serial, detail), None
        summary = publish(release.directory, item.target, journal, options=options,
                          retry=retry, show_progress=False)  # fmt: skip
        if not summary.ok:
            return TargetOutcome(item.target_name, "failed", None, summary.error or ""), None
        serial = write_index(store, name, indexed(release), item.channel.index_ttl, signer,
                             clock)  # fmt: skip
    sent = len(summary.published)
    return TargetOutcome(item.target_name, "published", serial, f"{sent} files sent"), current


def write_index(
    store: IndexStore,
    channel: str,
    release: idx.IndexedRelease | None,
    ttl: int,
    signer: Signer,
    clock: Clock = utcnow,
    trusted: Callable[[Stored], bool] | None = None,
) -> int:
    """Write the next signed index of `channel` (a re-sign when `release` is None), then the
    snapshot, each compare-and-swap; the caller holds the store's lock. Returns the new serial.
    The index is written once: a conflict on the snapshot retries the snapshot alone. A
    re-sign signs only what `trusted` accepts (the exact bytes read), else raises Untrusted."""
    path = idx.INDEX_PATH.format(channel=channel)
    for _ in range(CAS_ATTEMPTS):
        before = store.read(path)
        previous = idx.parse_index(before.data) if before else None
        now = clock()
        if release is None:
            if previous is None or before is None:
                raise OperationError(f"{store.url}/{path}: no index to re-sign")
            if trusted is not None and not trusted(before):
                raise Untrusted(f"{store.url}/{path}: {UNTRUSTED}")
            new = idx.resigned(previous, now, ttl)
        else:
            new = idx.next_index(previous, release, now, ttl, channel=channel)
        data = idx.canonical(new)
        try:
            signed_write(store, path, data, before, signer.sign_detached(data))
        except Changed as exc:
            log.warning("%s; re-reading and trying again", exc)
            continue
        write_snapshot(store, {channel: data}, ttl, signer, clock)
        return new.serial
    raise OperationError(f"{store.url}/{path}: other writers kept changing it; rerun")


def write_snapshot(
    store: IndexStore, indexes: dict[str, bytes], ttl: int, signer: Signer, clock: Clock = utcnow
) -> None:
    """Write the next signed snapshot listing `indexes` (channel -> published bytes),
    compare-and-swap; the caller holds the store's lock."""
    update_snapshot(
        store, signer, lambda previous: idx.next_snapshot(previous, indexes, clock(), ttl)
    )


def update_snapshot(
    store: IndexStore,
    signer: Signer,
    change: Callable[[idx.Snapshot | None], idx.Snapshot | None],
) -> None:
    """Read the snapshot, write `change(snapshot)` signed (None: nothing to write), and start
    over when another writer got there first; the caller holds the store's lock."""
    for _ in range(CAS_ATTEMPTS):
        before = store.read(idx.SNAPSHOT_PATH)
        after = change(parse_snapshot(store, before.data) if before else None)
        if after is None:
            return
        snapshot = idx.canonical(after)
        try:
            signed_write(store, idx.SNAPSHOT_PATH, snapshot, before,
                         signer.sign_detached(snapshot))  # fmt: skip
        except Changed as exc:
            log.warning("%s; re-reading and trying again", exc)
            continue
        return
    raise OperationError(f"{store.url}/{idx.SNAPSHOT_PATH}: other writers kept changing it; rerun")


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
    result = ReconcileResult(_head(repo))
    pending = _differences(repo, config, selected_channels(config, None), options, result)
    differ = [Difference(p.channel.name, p.target_name, p.store is None) for p in pending]
    retiring = {name: gone for name, (_, gone) in _retiring(repo, config, options).items()}
    return result, differ, retiring
