"""`release promote` and `release rollback`: move a channel's pin as a reviewable git commit.

Deciding what to pin (`promotion`, `rollback_pin`) is pure over the loaded config; `commit_pin`
is the git edge: it edits only the channel file's version line and commits it on a new branch
(without touching the working tree) or on the current branch.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from release import fsutil
from release.channels.resolve import Release, Unresolved, is_pinned, resolve
from release.channels.state import last_released, load_state
from release.channels.yamledit import EditError, set_version
from release.config.gitrepo import GitPython, GitRepo, NotARepository, open_repo
from release.config.history import Revision, versions_in_history
from release.config.loader import ConfigRepo
from release.errors import InvalidInput, OperationError
from release.model.base import version_key


class NothingToDo(InvalidInput):
    """The channel is already pinned to that release: no commit was made."""


@dataclass(frozen=True)
class Pin:
    """A decided change: pin `channel` (file `path`) to `release`."""

    channel: str
    path: str
    release: Release
    previous: Release
    message: str
    branch: str  # the default branch name for the commit


@dataclass(frozen=True)
class PinResult:
    pin: Pin
    commit: str
    branch: str
    on_current_branch: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "channel": self.pin.channel,
            "image": self.pin.release.image,
            "version": self.pin.release.version,
            "previous": self.pin.previous.version,
            "file": self.pin.path,
            "commit": self.commit,
            "branch": self.branch,
            "on_current_branch": self.on_current_branch,
        }


def promotion(
    config: ConfigRepo,
    source: str,
    target: str,
    released: ConfigRepo | None = None,
    released_at: str = "HEAD",
) -> Pin:
    """Pin `target` (in `config`, the state at HEAD) to the release `source` has in `released`,
    the state users have now (default: `config` itself). Pure."""
    if source == target:
        raise InvalidInput(f"--from and --to are both {source!r}: name two channels")
    _known(config, source)
    _known(config, target)
    released = released or config
    if source not in released.channels:
        raise InvalidInput(
            f"channel {source!r} is empty: it had no release at {released_at}, nothing to promote"
        )
    try:
        release = _resolve(released, source)
    except Unresolved as exc:
        raise InvalidInput(f"channel {source!r} is empty, nothing to promote: {exc}") from exc
    channel = config.channel(target)
    if channel.image != release.image:
        raise InvalidInput(
            f"channel {target!r} is for image {channel.image!r}, but {source!r} has"
            f" {release}: promote between channels of the same image"
        )
    previous = _resolve(config, target)
    _not_pinned_already(config, target, release)
    return Pin(
        channel=target,
        path=config.channels[target].doc.path,
        release=release,
        previous=previous,
        message=(
            f"Promote {target} to {release}\n\n"
            f"From {source} as released at {released_at} (was {previous.version}).\n"
        ),
        branch=branch_name("promote", target, release.version),
    )


def rollback_pin(config: ConfigRepo, channel: str, version: str, history: Iterable[str]) -> Pin:
    """Pin `channel` back to `version`, which its image must have had in `history`. Pure."""
    _known(config, channel)
    previous = _resolve(config, channel)
    release = Release(previous.image, version)
    known = set(history) | {config.image(previous.image).version}
    if version not in known:
        listed = ", ".join(sorted(known, key=version_key, reverse=True))
        raise InvalidInput(
            f"image {previous.image!r} never had version {version!r} in this repo's history"
            f" (it had: {listed})"
        )
    _not_pinned_already(config, channel, release)
    if version_key(version) >= version_key(previous.version):
        raise InvalidInput(
            f"{version} is not older than {channel}'s {previous.version}: a rollback goes back"
            " (use `release promote` or bump the image to go forward)"
        )
    return Pin(
        channel=channel,
        path=config.channels[channel].doc.path,
        release=release,
        previous=previous,
        message=f"Roll back {channel} to {release}\n\nWas {previous.version}.\n",
        branch=branch_name("rollback", channel, version),
    )


def branch_name(kind: str, channel: str, version: str) -> str:
    """`promote/<channel>-<version>`, with characters git refuses in branch names replaced."""
    return f"{kind}/{channel}-{re.sub(r'[^A-Za-z0-9._+-]', '_', version)}"


def _known(config: ConfigRepo, name: str) -> None:
    if name not in config.channels:
        close = difflib.get_close_matches(name, sorted(config.channels), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(config.channels)}"
        raise InvalidInput(f"unknown channel {name!r} ({hint})")


def _resolve(config: ConfigRepo, name: str) -> Release:
    channels = {n: loaded.value for n, loaded in config.channels.items()}
    return resolve(name, channels, config.frozen_images())


def _not_pinned_already(config: ConfigRepo, name: str, release: Release) -> None:
    channel = config.channel(name)
    if is_pinned(channel) and channel.version == release.version:
        raise NothingToDo(f"channel {name!r} is already pinned to {release}: nothing to do")


def promote(
    repo: str,
    source: str,
    target: str,
    branch: str | None = None,
    current: bool = False,
    at: str | None = None,
) -> PinResult:
    """Commit the promotion of `source`'s release into `target` (see `commit_pin`).

    The source's release is the one users have: as of the last release (the newest
    `release/*` tag behind HEAD), or as of revision `at` (e.g. "HEAD").
    """
    config = load_state(repo, "HEAD")
    ref = at or last_released(repo, "HEAD")
    if ref is None:
        raise InvalidInput(
            f"channel {source!r} is empty: nothing was released yet (no release/* tag behind"
            " HEAD); give --at HEAD to promote what the config at HEAD says"
        )
    released = config if ref == "HEAD" else load_state(repo, ref)
    return commit_pin(repo, promotion(config, source, target, released, ref), branch, current)


def rollback(
    repo: str, channel: str, version: str, branch: str | None = None, current: bool = False
) -> PinResult:
    """Commit pinning `channel` back to `version` of its image (see `commit_pin`)."""
    config = load_state(repo, "HEAD")
    _known(config, channel)
    image = _resolve(config, channel).image
    local = _repo(repo)
    history = versions_in_history(
        Revision(local, local.commit().sha), config.images[image].doc.path
    )
    return commit_pin(repo, rollback_pin(config, channel, version, history), branch, current)


def commit_pin(repo: str, pin: Pin, branch: str | None, current: bool) -> PinResult:
    """Edit the channel file at HEAD and commit it: on a new branch (default `pin.branch`,
    the working tree untouched), or with `current` on the checked-out branch."""
    local = _repo(repo)
    head = local.commit().sha
    try:
        edited = set_version(_file(local, head, pin.path).decode("utf-8"), pin.release.version)
    except (EditError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{pin.path}: cannot re-pin it: {exc}") from exc
    data = edited.encode("utf-8")
    if current:
        on, worktree = _check_current(local, pin.path)
        commit = local.commit_file(head, pin.path, data, pin.message)
        fsutil.write_bytes(worktree / pin.path, data)
        local.advance(commit, f"release: {pin.message.splitlines()[0]}", pin.path)
        return PinResult(pin, commit, on, True)
    name = branch or pin.branch
    _check_branch(local, name)
    commit = local.commit_file(head, pin.path, data, pin.message)
    local.create_branch(name, commit)
    return PinResult(pin, commit, name, False)


def _repo(repo: str) -> GitPython:
    try:
        return open_repo(repo)
    except NotARepository as exc:
        raise InvalidInput(f"{repo} is not a git repository: give the config repo's path") from exc


def _file(local: GitRepo, rev: str, path: str) -> bytes:
    data = local.read(rev, path)
    if data is None:
        raise InvalidInput(f"{path}: cannot re-pin it: it is not in {rev[:12]}")
    return data


def _check_branch(local: GitRepo, name: str) -> None:
    if local.has_branch(name):
        raise InvalidInput(f"branch {name!r} already exists: delete it or give --branch NAME")
    if not local.valid_branch_name(name):
        raise InvalidInput(f"{name!r} is not a valid branch name")


def _check_current(local: GitRepo, path: str) -> tuple[str, Path]:
    """The checked-out branch and its working tree, when committing on it is safe."""
    on, worktree = local.current_branch(), local.root
    if on is None or worktree is None:
        raise InvalidInput(
            "--on-current-branch needs a checked-out branch (this HEAD is detached or bare)"
        )
    if local.changed(path):
        raise OperationError(f"{path} has uncommitted changes: commit or stash them first")
    if local.staged():
        raise OperationError("other changes are staged: commit or unstage them first")
    return on, worktree
