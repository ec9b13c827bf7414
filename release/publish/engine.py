"""One publish run: plan from what the target holds, send phase by phase, read back, record.

Files go under the digests the sealed release states (sha256sum.txt); each adapter proves
the bytes it sends against them, so a file changed after sealing is never published under
its sealed digest. Nothing counts as published until the target has been read back. A file
the target already holds with the same digest is skipped; with different bytes the run
refuses (releases are immutable). Phases go in the layout's order, and a failed phase stops
the run before any metadata that would point at missing files.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from release.errors import InvalidInput, ReleaseError, VerificationError
from release.publish import layout
from release.publish.journal import DONE, FAILED, JournalStore, step_id
from release.publish.mirror import (
    Conflict,
    LocalFile,
    Mirror,
    NotSealedBytes,
    PutContext,
    Remote,
)
from release.publish.retry import Retrier, RetryEvent
from release.publish.upload_digest import sha256_file

log = logging.getLogger("release.publish")

Action = Literal["send", "skip", "verify"]
Status = Literal["published", "skipped", "failed", "would-send", "would-skip", "would-verify"]
_WOULD: dict[Action, Status] = {
    "send": "would-send",
    "skip": "would-skip",
    "verify": "would-verify",
}


@dataclass(frozen=True)
class Outcome:
    name: str
    size: int
    status: Status
    detail: str = ""


@dataclass
class PublishSummary:
    target: str
    release: str
    dry_run: bool = False
    outcomes: list[Outcome] = field(default_factory=list)
    retries: list[RetryEvent] = field(default_factory=list)
    error: str | None = None
    verification_failed: bool = False  # the run stopped on a read-back that did not match

    def _with(self, status: Status) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def published(self) -> list[Outcome]:
        return self._with("published")

    @property
    def skipped(self) -> list[Outcome]:
        return self._with("skipped")

    @property
    def failed(self) -> list[Outcome]:
        return self._with("failed")

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, object]:
        return {
            "target": self.target,
            "release": self.release,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "error": self.error,
            "files": [o.__dict__ for o in self.outcomes],
            "retries": [r.__dict__ for r in self.retries],
        }


def local_files(
    release: layout.ReleaseDir, target_url: str, journal: JournalStore
) -> list[LocalFile]:
    """The files to publish, each under the digest the sealed release states for it."""
    sealed = layout.sealed_digests(release)
    return [
        local_file(release.path / name, target_url, journal, sealed.get(name))
        for name in release.names
    ]


def local_file(
    path: Path, target_url: str, journal: JournalStore, sealed: str | None = None
) -> LocalFile:
    """One file to send to `target_url`, under `sealed` (the digest its release states: no
    read, the adapter proves the bytes as it sends them), else the journal's cached digest,
    else hashed now. A cached digest that contradicts the sealed one stops the run."""
    st = path.stat()
    known = journal.cached_sha256(path)
    digest = sealed or known
    if digest is None:
        digest = known = sha256_file(path)
        journal.cache_sha256(path, st, digest)
    f = LocalFile(path.name, path, st.st_size, digest, step_id(target_url, path.name, digest))
    if known is not None and known != digest:
        raise NotSealedBytes(f, known)
    return f


def plan(
    files: list[LocalFile], present: dict[str, Remote], journal: JournalStore
) -> dict[str, Action]:
    """Decide per file; raise Conflict naming every file the target holds different bytes of."""
    actions: dict[str, Action] = {}
    conflicts = []
    for f in files:
        remote = present.get(f.name)
        if remote is None:
            actions[f.name] = "send"
        elif remote.size != f.size or (remote.sha256 is not None and remote.sha256 != f.sha256):
            conflicts.append(f.name)
        elif remote.sha256 == f.sha256 or journal.state(f.step) == DONE:
            actions[f.name] = "skip"
        else:
            actions[f.name] = "verify"  # same size, digest unknown: read back before trusting
    if conflicts:
        raise Conflict(
            f"the target already holds different files under these names: {', '.join(conflicts)}"
            " (releases are immutable: publish a new version instead)"
        )
    return actions


def publish_to(
    release: layout.ReleaseDir,
    mirror: Mirror,
    journal: JournalStore,
    *,
    retrier: Retrier | None = None,
    dry_run: bool = False,
    show_progress: bool = True,
) -> PublishSummary:
    """Publish one release dir through one opened mirror; see the module docstring."""
    retrier = retrier or Retrier()
    summary = PublishSummary(mirror.url, f"{release.image}/{release.version}", dry_run)
    summary.retries = retrier.events
    files = local_files(release, mirror.url, journal)
    retrier.call("check the target", mirror.check)
    present = retrier.call("list the target", lambda: mirror.present(list(release.names)))
    actions = plan(files, present, journal)
    if dry_run:
        summary.outcomes = [Outcome(f.name, f.size, _WOULD[actions[f.name]]) for f in files]
        return summary
    ctx = PutContext(journal, retrier, show_progress)
    for phase in sorted({layout.rank(f.name) for f in files}):
        batch = [f for f in files if layout.rank(f.name) == phase]
        try:
            _run_phase(batch, actions, mirror, ctx, summary)
        except (InvalidInput, Conflict):
            raise  # bad credentials, a missing bucket, an immutable release: the user's to fix
        except (ReleaseError, OSError) as exc:  # OSError: a network error no adapter translated
            summary.error = f"{layout.PHASE_NAMES[phase]}: {exc}"
            summary.verification_failed = isinstance(exc, VerificationError)
            log.error("publish to %s stopped: %s", mirror.url, summary.error)
            return summary
    retrier.call("finalize", mirror.finalize)
    return summary


def _run_phase(
    batch: list[LocalFile],
    actions: dict[str, Action],
    mirror: Mirror,
    ctx: PutContext,
    summary: PublishSummary,
) -> None:
    to_send = [f for f in batch if actions[f.name] == "send"]
    to_check = [f for f in batch if actions[f.name] != "skip"]
    for f in batch:
        if actions[f.name] == "skip":
            summary.outcomes.append(Outcome(f.name, f.size, "skipped", "already there"))
    try:
        mirror.put(to_send, ctx)
        back = ctx.retrier.call("read back", lambda: mirror.read_back(to_check)) if to_check else {}
    except (ReleaseError, OSError) as exc:
        for f in to_check:
            summary.outcomes.append(Outcome(f.name, f.size, "failed", str(exc)))
            ctx.journal.record(f.step, mirror.url, f.name, f.sha256, f.size, FAILED, str(exc))
        raise
    bad: list[str] = []
    conflicts: list[str] = []
    for f in to_check:
        remote = back.get(f.name)
        if remote is None or remote.size != f.size or remote.sha256 != f.sha256:
            got = "missing" if remote is None else f"{remote.size} bytes, sha256 {remote.sha256}"
            detail = f"read back {got}; expected {f.size} bytes, sha256 {f.sha256}"
            summary.outcomes.append(Outcome(f.name, f.size, "failed", detail))
            ctx.journal.record(f.step, mirror.url, f.name, f.sha256, f.size, FAILED, detail)
            (conflicts if actions[f.name] == "verify" else bad).append(f"{f.name}: {detail}")
            continue
        status: Status = "published" if actions[f.name] == "send" else "skipped"
        detail = "read back" if status == "published" else "already there (read back)"
        summary.outcomes.append(Outcome(f.name, f.size, status, detail))
        ctx.journal.record(f.step, mirror.url, f.name, f.sha256, f.size, DONE, detail)
    for f in batch:
        if actions[f.name] == "skip":
            ctx.journal.record(f.step, mirror.url, f.name, f.sha256, f.size, DONE, "already there")
    if conflicts:
        raise Conflict(
            "the target already holds different files under these names: "
            + "; ".join(conflicts)
            + " (releases are immutable: publish a new version instead)"
        )
    if bad:
        raise VerificationError("read-back failed: " + "; ".join(bad))
