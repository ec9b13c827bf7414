"""Until `release reconcile` lands: each channel's release made by the pipeline and published
to the channel's targets, so the demo's story runs end to end."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from release.channels.resolve import Release, resolve_all
from release.config.loader import ConfigRepo
from release.errors import OperationError
from release.integrity.signing import Signer
from release.pipeline import Workspace, is_sealed, make_release
from release.publish.api import publish
from release.publish.journal import Journal


def publish_channels(
    state: ConfigRepo,
    commit: str,
    workspace: Workspace,
    signer: Signer,
    journal_path: Path,
    say: Callable[[str], None],
) -> None:
    channels = {name: loaded.value for name, loaded in state.channels.items()}
    releases = resolve_all(channels, state.frozen_images())
    directories: dict[Release, Path] = {}
    journal = Journal(journal_path)
    for name, release in releases.items():
        if release not in directories:
            directories[release] = _release_dir(state, release, commit, workspace, signer, say)
        for target_name in channels[name].targets:
            summary = publish(
                directories[release], state.targets[target_name], journal, show_progress=False
            )
            if not summary.ok:
                raise OperationError(f"publishing {release} to {target_name}: {summary.error}")
            say(
                f"{name}: {release} on {target_name}: {len(summary.published)} files published,"
                f" {len(summary.skipped)} there already"
            )


def _release_dir(
    state: ConfigRepo,
    release: Release,
    commit: str,
    workspace: Workspace,
    signer: Signer,
    say: Callable[[str], None],
) -> Path:
    image = state.image(release.image)
    if image.version != release.version:
        # A pinned older version: released by an earlier run, never rebuilt here.
        directory = workspace.release_dir(release.image, release.version)
        if not is_sealed(directory):
            raise OperationError(f"{release}: no sealed release in {directory}")
        say(f"{release}: reused {directory}")
        return directory
    if not is_sealed(workspace.release_dir(release.image, release.version)):
        say(f"{release}: build, convert to {', '.join(image.formats)}, seal")
    # make_release logs what it made or reused.
    return make_release(image, commit=commit, workspace=workspace, signer=signer).directory
