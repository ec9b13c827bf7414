"""`release demo`: a self-contained world in one directory, and the release story run in it.

    DIR/repos/el6, el7   local yum repos built from the spec files shipped in release/data/demo
    DIR/gnupg            the demo signing key (private; never in the config repo)
    DIR/remote.git       the "remote" config repo; DIR/config is a user's clone of it
    DIR/work             builds, the release directories and the publish journal
    DIR/mirror           the published mirror (the filesystem target)

Every step checks what is already there, so a rerun reuses it and says so.
"""

from __future__ import annotations

import logging
import shlex
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from release import runner
from release.channels.plan import plan
from release.channels.promote import promote
from release.channels.reconcile import reconcile as run_reconcile
from release.channels.serials import SerialStore
from release.channels.status import status
from release.channels.verify import verify_channel
from release.demo import world
from release.demo.bootkit import kernel_rpm
from release.demo.repo import build_repo, is_repo
from release.demo.signing_key import ensure_key, export_public
from release.errors import OperationError, ReleaseError, VerificationError
from release.integrity.gpghome import stop_agents
from release.integrity.keysource import load_key_source
from release.integrity.signing import SigningConfig
from release.pipeline import Workspace
from release.render.plan import render
from release.render.reconcile import render_reconcile
from release.render.status import render_text as render_status
from release.render.verify import render_channel

log = logging.getLogger(__name__)

Say = Callable[[str], None]
IDENTITY = {
    "GIT_AUTHOR_NAME": "Demo User",
    "GIT_AUTHOR_EMAIL": "demo@example.invalid",
    "GIT_COMMITTER_NAME": "Demo User",
    "GIT_COMMITTER_EMAIL": "demo@example.invalid",
}
BUMP_BRANCH = "bump-el7"
NEXT_EL7 = "7.9.3"  # what the printed by-hand commands bump demo-el7 to
BY_HAND_START = "# --- commands to run by hand ---"
BY_HAND_END = "# --- end of the commands ---"


@dataclass(frozen=True)
class DemoPaths:
    root: Path

    @property
    def repos(self) -> Path:
        return self.root / "repos"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def gnupg(self) -> Path:
        return self.root / "gnupg"

    @property
    def remote(self) -> Path:
        return self.root / "remote.git"

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def mirror(self) -> Path:
        return self.root / "mirror"

    @property
    def workspace(self) -> Workspace:
        return Workspace(self.root / "work")

    @property
    def serials(self) -> Path:
        """The index serials the demo's downstream client has seen (replay protection)."""
        return self.root / "work" / "serials.json"

    @property
    def journal(self) -> Path:
        return self.root / "work" / "publish-journal.sqlite"


@dataclass(frozen=True)
class DemoResult:
    root: Path
    fingerprint: str
    verified: str  # the release directory `release verify` checked
    kernel: str  # the kernel package the images carry

    def to_dict(self) -> dict[str, str]:
        return {
            "root": str(self.root),
            "fingerprint": self.fingerprint,
            "verified": self.verified,
            "kernel": self.kernel,
        }


def git(repo: Path, *args: str) -> str:
    return runner.run(["git", *args], cwd=repo, env=IDENTITY).stdout.decode()


def run_demo(root: Path, say: Say, *, boot_kernel: bool = True) -> DemoResult:
    """Build the demo world in `root` (or reuse it) and run the release story in it."""
    paths = DemoPaths(root.resolve())
    paths.root.mkdir(parents=True, exist_ok=True)
    say(f"== The demo world in {paths.root}")
    kernel = package_repos(paths, say, boot_kernel)
    fingerprint, made = ensure_key(paths.gnupg)
    say(f"signing key {fingerprint}: {'generated (RSA 3072)' if made else 'reused'}")
    signing = SigningConfig(
        gnupghome=paths.gnupg, fingerprint=fingerprint, key_env=None, passphrase_env=None
    )
    try:
        config_repo(paths, kernel, fingerprint, say)
        say("\n== release reconcile: the first release of every channel")
        reconcile(paths, signing, say, "release/demo-1")
        say("\n== A user bumps the EL7 image on a branch, merges it into main and pushes")
        bump_el7(paths, say)
        say("\n== release plan (what releasing main would do)")
        say(render(plan(str(paths.config)), "text"))
        say("\n== release reconcile: build, convert, seal, publish, sign the channel indexes")
        reconcile(paths, signing, say, "release/demo-2")
        say("\n== release promote --from el7-testing --to el7-stable")
        promote_el7(paths, say)
        say("\n== release reconcile: publish el7-stable's new release")
        reconcile(paths, signing, say, "release/demo-3")
        verified = verify(paths, say)
    finally:
        stop_agents(paths.gnupg)
    say("\n== The mirror")
    say(tree(paths.mirror))
    say("\n== What a downstream user runs (stock tools)")
    say(stock_commands(paths, Path(verified)))
    say("\n== The mirror in a browser")
    say(f"front page: {paths.mirror / 'index.html'}")
    say(f"or serve it on 127.0.0.1: {release_command()} demo {paths.root} --serve")
    say("\n== release status (git HEAD against the mirror)")
    say(render_status(status(paths.config)))
    say("\n== Go on by hand: bump demo-el7, release it, check the status")
    say(BY_HAND_START)
    say(by_hand(paths, fingerprint))
    say(BY_HAND_END)
    return DemoResult(paths.root, fingerprint, verified, kernel)


def package_repos(paths: DemoPaths, say: Say, boot_kernel: bool) -> str:
    """The EL6 and EL7 package repos; the kernel package name the images should install."""
    kernel_rpm = paths.cache / "boot-kernel.rpm"
    if boot_kernel and not kernel_rpm.is_file() and not _repos_done(paths):
        kernel_rpm = _fetch_boot_kernel(paths, say)
    kernel = "boot-kernel" if kernel_rpm.is_file() else "kernel"
    for el in world.IMAGES:
        dest = paths.repos / f"el{el}"
        if is_repo(dest / "repo"):
            say(f"package repo el{el}: reused ({dest / 'repo'})")
            continue
        shutil.rmtree(dest, ignore_errors=True)
        extra = (kernel_rpm,) if kernel == "boot-kernel" else ()
        build_repo(dest, f".el{el}", extra)
        say(f"package repo el{el}: built from the shipped spec files ({dest / 'repo'})")
    return kernel


def _repos_done(paths: DemoPaths) -> bool:
    return all(is_repo(paths.repos / f"el{el}" / "repo") for el in world.IMAGES)


def _fetch_boot_kernel(paths: DemoPaths, say: Say) -> Path:
    say(
        "bootable kernel: packaging Debian's kernel (from the cache .ci/setup filled) and a"
        " busybox initramfs"
    )
    work = paths.cache / "kernel-work"
    shutil.rmtree(work, ignore_errors=True)
    target = paths.cache / "boot-kernel.rpm"
    try:
        shutil.copyfile(kernel_rpm(work, ".demo"), target)
    except (ReleaseError, OSError, KeyError, StopIteration) as exc:
        say(f"bootable kernel: not available ({exc}); the images carry a stand-in kernel")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def config_repo(paths: DemoPaths, kernel: str, fingerprint: str, say: Say) -> None:
    """The bare "remote" seeded with the demo config, and the user's clone of it."""
    if paths.remote.is_dir():
        say(f"config repo: reused ({paths.remote}, clone in {paths.config})")
    else:
        seed = paths.root / ".config-seed"
        shutil.rmtree(seed, ignore_errors=True)
        repos = {el: paths.repos / f"el{el}" / "repo" for el in world.IMAGES}
        public = export_public(paths.gnupg, fingerprint)
        files = world.config_files(repos, kernel, paths.mirror, public, fingerprint)
        for path, data in files.items():
            (seed / path).parent.mkdir(parents=True, exist_ok=True)
            (seed / path).write_bytes(data)
        git(paths.root, "init", "-q", "-b", "main", str(seed))
        git(seed, "add", "-A")
        git(seed, "commit", "-q", "-m", "Demo config: two images, four channels, one mirror")
        git(paths.root, "clone", "-q", "--bare", str(seed), str(paths.remote))
        shutil.rmtree(seed)
        say(f"config repo: created {paths.remote} (images/, channels/, targets/, keys/)")
    if not paths.config.is_dir():
        git(paths.root, "clone", "-q", str(paths.remote), str(paths.config))
        for key, value in (("user.name", "Demo User"), ("user.email", "demo@example.invalid")):
            git(paths.config, "config", key, value)
        say(f"config repo: cloned into {paths.config}")


def bump_el7(paths: DemoPaths, say: Say) -> None:
    image = paths.config / "images" / f"{world.IMAGES[7]}.yaml"
    old = f'version: "{world.FIRST_VERSION[7]}"'
    text = image.read_text()
    if old not in text:
        say(f"{world.IMAGES[7]} is at {world.BUMPED_EL7} already: reused")
        return
    git(paths.config, "checkout", "-q", "-b", BUMP_BRANCH, "main")
    image.write_text(text.replace(old, f'version: "{world.BUMPED_EL7}"', 1))
    git(paths.config, "commit", "-q", "-am", f"{world.IMAGES[7]}: {world.BUMPED_EL7}")
    git(paths.config, "checkout", "-q", "main")
    git(paths.config, "merge", "-q", "--no-ff", BUMP_BRANCH, "-m", f"Merge {BUMP_BRANCH}")
    git(paths.config, "push", "-q", "origin", "main")
    say(f"{world.IMAGES[7]}: {world.FIRST_VERSION[7]} -> {world.BUMPED_EL7}, merged and pushed")


def promote_el7(paths: DemoPaths, say: Say) -> None:
    channel = paths.config / "channels" / "el7-stable.yaml"
    if f'"{world.BUMPED_EL7}"' in channel.read_text():
        say(f"el7-stable is pinned to {world.BUMPED_EL7} already: reused")
        return
    result = promote(str(paths.config), "el7-testing", "el7-stable", current=True)
    git(paths.config, "push", "-q", "origin", "main")
    pin = result.pin
    say(f"el7-stable: {pin.previous.version} -> {pin.release.version}, committed and pushed")


def reconcile(paths: DemoPaths, signing: SigningConfig, say: Say, tag: str) -> None:
    """`release reconcile` of main, then the release tag a completed release records (the
    base of the next `release plan`). Reconcile itself skips what the mirror already has."""
    result = run_reconcile(
        paths.config, workspace=paths.workspace, signing=signing, journal=paths.journal
    )
    say(render_reconcile(result))
    if not result.ok:
        raise OperationError("release reconcile failed on some targets (see above)")
    if git(paths.config, "tag", "--list", tag).strip():
        say(f"{tag}: tagged already")
        return
    git(paths.config, "tag", "-a", tag, "-m", f"released {tag}")
    git(paths.config, "push", "-q", "origin", tag)
    say(f"{tag}: tagged and pushed")


def verify(paths: DemoPaths, say: Say) -> str:
    """`release verify --channel el7-stable` of the mirror, as a downstream client would: the
    signed channel index and snapshot, then the release they point at."""
    keys = paths.config / "keys"
    say(f"\n== release verify {paths.mirror} --channel el7-stable --keys {keys}")
    result = verify_channel(
        str(paths.mirror), "el7-stable", load_key_source(keys), serials=SerialStore(paths.serials)
    )
    say(render_channel(result))
    if not result.ok or result.release is None:
        raise VerificationError("; ".join(result.failures()))
    return result.release.location


def tree(root: Path) -> str:
    lines = [str(root)]
    for path in sorted(root.rglob("*")):
        depth = len(path.relative_to(root).parts)
        size = f"  ({path.stat().st_size} bytes)" if path.is_file() else "/"
        lines.append(f"{'    ' * depth}{path.name}{size}")
    return "\n".join(lines)


def release_command() -> str:
    """The `release` of this installation, so the printed commands run as they are."""
    beside = Path(sys.executable).parent / "release"
    return str(beside) if beside.is_file() else "release"


def by_hand(paths: DemoPaths, fingerprint: str) -> str:
    """Shell commands that bump demo-el7 in the user's clone and release it with the demo's
    key (its GnuPG home and fingerprint), then show the status."""
    release = release_command()
    image = f"images/{world.IMAGES[7]}.yaml"
    q = shlex.quote
    return "\n".join(
        [
            f"cd {q(str(paths.config))}",
            f"sed -i 's/^version: .*/version: \"{NEXT_EL7}\"/' {image}",
            f"git commit -q -am '{world.IMAGES[7]}: {NEXT_EL7}' && git push -q origin main",
            f"{release} reconcile --work {q(str(paths.workspace.root))}"
            f" --journal {q(str(paths.journal))}"
            f" --gnupghome {q(str(paths.gnupg))} --fingerprint {fingerprint}",
            f"{release} status",
        ]
    )


def stock_commands(paths: DemoPaths, release: Path) -> str:
    key = paths.config / "keys" / world.KEY_FILE
    return "\n".join(
        [
            f"export GNUPGHOME=$(mktemp -d) && gpg --import {key}",
            f"cd {release}",
            "gpg --verify sha256sum.txt.asc sha256sum.txt",
            "sha256sum -c --strict sha256sum.txt",
            "gpg --verify manifest.json.asc manifest.json",
            f"release verify {paths.mirror} --channel el7-stable --keys {paths.config / 'keys'}",
        ]
    )
