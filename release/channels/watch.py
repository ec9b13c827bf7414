"""`release watch`: follow a config repo's branch and reconcile each new commit.

A loop: fetch (through `release.config.gitrepo`), and when the branch moved, check the new
commit out in the watch's own clone, run `reconcile`, and record a completed release as an
annotated `release/<UTC time>` tag pushed back to the remote (the base of the next `release plan`).
The last commit handled is kept in `<work>/watch.json`, so a restarted watch resumes where it
stopped (interrupted uploads resume from the publish journal). An unreachable remote is
logged and retried with a growing delay; the loop keeps running. A branch whose new head
does not descend from the last one handled (a force-push) is refused unless allowed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from release import fsutil
from release.channels.reconcile import ReconcileResult, reconcile
from release.config.gitrepo import GitError, GitPython, clone, open_repo
from release.errors import InvalidInput, OperationError, ReleaseError
from release.integrity.signing import SigningConfig
from release.pipeline import Workspace
from release.publish.options import Options

log = logging.getLogger("release.watch")

TAG_PREFIX = "release/"
IDENTITY = ("release watch", "release-watch@localhost")


@dataclass(frozen=True)
class WatchSettings:
    url: str
    branch: str
    work: Path
    signing: SigningConfig
    interval: float = 60.0
    allow_rewrite: bool = False
    journal: Path | None = None
    options: Options | None = None
    longest_wait: float = 600.0  # backoff ceiling while the remote is unreachable


def tag_name(now: dt.datetime) -> str:
    return TAG_PREFIX + now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


class Watcher:
    def __init__(self, settings: WatchSettings) -> None:
        self.settings = settings
        self.clone_dir = settings.work / "config"
        self.state_path = settings.work / "watch.json"
        self._repo: GitPython | None = None

    # -- state -----------------------------------------------------------------------

    def last_handled(self) -> str | None:
        try:
            data = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise OperationError(f"{self.state_path}: unreadable ({exc}); remove it") from exc
        value = data.get("last_commit")
        return value if isinstance(value, str) else None

    def _record(self, commit: str) -> None:
        self.settings.work.mkdir(parents=True, exist_ok=True)
        fsutil.write_text(self.state_path, json.dumps({"last_commit": commit}) + "\n")

    # -- git -------------------------------------------------------------------------

    def _open(self) -> GitPython:
        if self._repo is None:
            if (self.clone_dir / ".git").is_dir():
                self._repo = open_repo(self.clone_dir)
            else:
                self.settings.work.mkdir(parents=True, exist_ok=True)
                self._repo = clone(self.settings.url, self.clone_dir)
            self._repo.set_identity(*IDENTITY)
        return self._repo

    def fetch(self) -> str:
        """The remote branch's head after a fetch; GitError when unreachable."""
        repo = self._open()
        repo.fetch("origin")
        return repo.commit(f"origin/{self.settings.branch}").sha

    def _descends(self, old: str, new: str) -> bool:
        return self._open().is_ancestor(old, new)

    def _tag(self, commit: str, result: ReconcileResult) -> str:
        repo = self._open()
        name = tag_name(dt.datetime.now(dt.UTC))
        lines = [
            f"{c.channel}: {c.image} {c.version}"
            for c in result.channels
            if any(t.status == "published" for t in c.targets)
        ]
        repo.tag(name, commit, "released by release watch\n\n" + "\n".join(lines))
        repo.push(f"refs/tags/{name}", "origin")
        return name

    # -- one cycle -------------------------------------------------------------------

    def cycle(self) -> str:
        """Fetch and handle a new commit; says what happened (also logged)."""
        head = self.fetch()
        last = self.last_handled()
        if head == last:
            return "up to date"
        if last is not None and not self._descends(last, head):
            if not self.settings.allow_rewrite:
                message = (
                    f"{self.settings.branch} was rewritten: {head[:12]} does not descend from"
                    f" {last[:12]}, the last commit released; refusing (--allow-rewrite)"
                )
                log.error("%s", message)
                return message
            log.warning("%s was rewritten; releasing %s as allowed", self.settings.branch, head)
        self._open().checkout(head)
        result = reconcile(
            self.clone_dir,
            workspace=Workspace(self.settings.work.absolute()),
            signing=self.settings.signing,
            journal=self.settings.journal,
            options=self.settings.options,
        )
        if not result.ok:
            raise OperationError(f"reconcile of {head[:12]} failed; retrying next cycle")
        message = f"{head[:12]}: nothing to release"
        if not result.noop:
            message = f"{head[:12]}: released, tagged {self._tag(head, result)}"
        self._record(head)
        return message


def watch(settings: WatchSettings, stop: threading.Event) -> None:
    """Run cycles every `interval` seconds until `stop` is set (e.g. by SIGTERM)."""
    watcher = Watcher(settings)
    last = watcher.last_handled()
    if last is not None:
        log.info("resuming: %s was the last commit handled", last[:12])
    wait = settings.interval
    said = ""
    while not stop.is_set():
        try:
            message = watcher.cycle()
            if message != said:  # "up to date" once, not every interval
                log.info("%s: %s", settings.branch, message)
                said = message
            wait = settings.interval
        except GitError as exc:
            wait = min(max(wait * 2, settings.interval), settings.longest_wait)
            detail = (exc.stderr or str(exc)).strip().splitlines()
            log.warning(
                "cannot reach %s (%s); retrying in %.0f s",
                settings.url,
                detail[-1] if detail else exc,
                wait,
            )
        except InvalidInput as exc:
            log.error("the config at the branch head is refused: %s", exc)
        except ReleaseError as exc:
            log.error("%s", exc)
        stop.wait(wait)
    log.info("watch stopped")
