"""The sealed release a channel points at: reused when the workspace holds it, else made
from the image definition that had its version, found in the config repo's git history.
"""

from __future__ import annotations

from pathlib import Path

from release.channels.resolve import Release
from release.channels.state import StateInvalid, load_state
from release.config.gitrepo import open_repo
from release.config.history import repository_url, version_of
from release.config.loader import ConfigRepo
from release.errors import InvalidInput
from release.integrity.signing import Signer
from release.model.image import ImageDefinition
from release.pipeline import MadeRelease, Workspace, is_sealed, make_release


def make(
    repo: Path,
    config: ConfigRepo,
    head: str,
    release: Release,
    workspace: Workspace,
    signer: Signer,
) -> MadeRelease:
    """The sealed release in `workspace`, reused when there, else made from the definition
    that had its version."""
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
