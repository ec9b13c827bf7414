"""`release plan` on a large config repo: 50 images, 200 channels, 1,000 commits of history.

Goal: under 2 s, and growing no worse than linearly with the number of images. Reference,
same repo and revisions, same run: `git diff --stat BASE HEAD` (what a human would look at).
Also a no-op `release reconcile` on the largest repo, every channel already published.
Run as `python -m bench.plan [--quick]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from release import runner
from release.channels import index as idx
from release.channels import site
from release.channels.plan import Plan, plan
from release.channels.reconcile import reconcile
from release.channels.resolve import resolve_all
from release.channels.state import load_state
from release.config import yamldoc
from release.config.history import version_of
from release.integrity.gpghome import temporary_home
from release.integrity.signing import SigningConfig, open_signer
from release.pipeline import Workspace
from release.publish.indexstore import FilesystemIndexStore

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = (ROOT / "images" / "centos-7-genericcloud.yaml").read_text()
GOAL_SECONDS = 2.0
CHANNEL_KINDS = ("testing", "stable", "canary", "lts")  # 4 channels per image
RECENT = 10  # the release tag sits this many commits before HEAD


def image_text(name: str, version: str) -> str:
    text = TEMPLATE.replace("name: centos-7-genericcloud", f"name: {name}", 1)
    return re.sub(r'^version: ".*"$', f'version: "{version}"', text, count=1, flags=re.M)


def channel_text(image: str, kind: str, version: str) -> str:
    head = f"# {kind} channel of {image}\nimage: {image}\n"
    if kind == "testing":
        return head + "version: latest\ntargets: [local]\n"
    if kind == "canary":
        return head + f"follow: {image}-testing\ntargets: [local]\n"
    return head + f'version: "{version}"\ntargets: [local]\n'


def _file(path: str, text: str) -> bytes:
    data = text.encode()
    return b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(data), data)


def _commit(number: int, message: str, files: list[bytes]) -> bytes:
    msg = message.encode()
    out = b"commit refs/heads/main\nmark :%d\n" % number
    out += b"committer Bench <bench@example.invalid> %d +0000\n" % (1_700_000_000 + number)
    out += b"data %d\n%s\n" % (len(msg), msg)
    if number > 1:
        out += b"from :%d\n" % (number - 1)
    return out + b"".join(files)


def fast_import_stream(images: int, commits: int) -> bytes:
    """The whole history: commit 1 adds everything; each later commit bumps one image version,
    every fifth one instead promotes a stable channel to its image's previous version."""
    names = [f"img-{i:03d}" for i in range(images)]
    versions = {name: [1] for name in names}
    first = [_file("targets/local.yaml", "type: filesystem\npath: mirror\n")]
    first += [_file(f"images/{n}.yaml", image_text(n, "1.0.1")) for n in names]
    first += [
        _file(f"channels/{n}-{kind}.yaml", channel_text(n, kind, "1.0.1"))
        for n in names
        for kind in CHANNEL_KINDS
    ]
    stream = [_commit(1, "initial config", first)]
    for number in range(2, commits + 1):
        name = names[number % images]
        history = versions[name]
        if number % 5 == 0 and len(history) > 1:
            pinned = f"1.0.{history[-2]}"
            change = _file(f"channels/{name}-stable.yaml", channel_text(name, "stable", pinned))
            stream.append(_commit(number, f"promote {name}-stable to {pinned}", [change]))
            continue
        history.append(history[-1] + 1)
        version = f"1.0.{history[-1]}"
        change = _file(f"images/{name}.yaml", image_text(name, version))
        stream.append(_commit(number, f"bump {name} to {version}", [change]))
    tag = f"tag release/1\nfrom :{commits - RECENT}\ntagger Bench <bench@example.invalid> "
    tag += f"{1_700_000_000 + commits} +0000\ndata 8\nreleased\n"
    return b"".join(stream) + tag.encode()


def make_repo(where: Path, images: int, commits: int) -> Path:
    repo = where / f"config-{images}"
    runner.run(["git", "init", "-q", "-b", "main", str(repo)])
    runner.run(
        ["git", "fast-import", "--quiet"], input=fast_import_stream(images, commits), cwd=repo
    )
    runner.run(["git", "checkout", "-q", "main"], cwd=repo)
    return repo


def _median_seconds(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cold_plan(repo: Path) -> Plan:
    """A plan as a fresh `release plan` process makes it: nothing parsed yet."""
    yamldoc.clear_cache()
    version_of.cache_clear()
    return plan(str(repo))


def measure(repo: Path, repeat: int) -> tuple[float, float, int]:
    """(ours, reference, number of channels published) on the same repo and revisions."""
    result = _cold_plan(repo)  # warm only what a real run also has: imports, the OS file cache
    ours = _median_seconds(lambda: _cold_plan(repo), repeat)
    argv = ["git", "diff", "--stat", "release/1", "HEAD"]
    reference = _median_seconds(
        lambda: subprocess.run(argv, cwd=repo, check=True, capture_output=True), repeat
    )
    return ours, reference, len(result.publishes)


def _fresh_process_row(repo: Path, images: int, repeat: int) -> dict[str, object]:
    """The whole command as CI runs it: a new Python process, imports included."""
    argv = [sys.executable, "-c", "import sys; from release.channels.plan import plan; "
            "plan(sys.argv[1])", str(repo)]  # fmt: skip
    ours = _median_seconds(lambda: runner.run(argv, cwd=ROOT), repeat)
    reference = _median_seconds(
        lambda: runner.run(["git", "diff", "--stat", "release/1", "HEAD"], cwd=repo), repeat
    )
    return {
        "what": f"plan in a fresh process, {images} images (Python start-up and imports too)",
        "ours_s": round(ours, 3),
        "reference_s": round(reference, 3),
        "ratio": round(ours / reference, 1),
        "goal": f"< {GOAL_SECONDS:g} s",
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def publish_indexes(repo: Path) -> list[Path]:
    """Channel indexes on the repo's `local` target saying every channel is up to date,
    signed (with a key made here, trusted in the repo's keys/) as reconcile writes them.

    The state comparison is what a no-op reconcile costs: it reads HEAD, each index, its
    signature and the snapshot, and touches no release directory, so none is made. Whether a
    trusted key signed each index is judged once (gpgv) and then remembered by content.
    """
    config = load_state(str(repo), "HEAD")
    releases = resolve_all({n: c.value for n, c in config.channels.items()}, config.frozen_images())
    now = dt.datetime.now(dt.UTC)
    documents: dict[Path, bytes] = {}
    indexes = {}
    for name, release in releases.items():
        current = idx.IndexedRelease(image=release.image, version=release.version,
                                     path=f"{release.image}/{release.version}",
                                     manifest_sha256="0" * 64)  # fmt: skip
        path = repo / "mirror" / idx.INDEX_PATH.format(channel=name)
        indexes[name] = idx.canonical(idx.next_index(None, current, now, 86400, channel=name))
        documents[path] = indexes[name]
    snapshot = idx.canonical(idx.next_snapshot(None, indexes, now, 86400))
    documents[repo / "mirror" / idx.SNAPSHOT_PATH] = snapshot  # up to date: it lists them all
    _sign_all(repo, documents)
    return [p for p in documents if p.name != Path(idx.SNAPSHOT_PATH).name]


def _sign_all(repo: Path, documents: dict[Path, bytes]) -> None:
    """Write each document and its detached signature by a throwaway key trusted in keys/."""
    with temporary_home("bench-key-") as home:
        gpg = ["gpg", "--homedir", str(home), "--batch", "--no-tty", "--passphrase", ""]
        runner.run([*gpg, "--quick-gen-key", "bench <bench@example.org>", "rsa2048", "sign"])
        listing = runner.run([*gpg, "--with-colons", "--list-keys"]).text
        fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))
        keys = repo / "keys"
        keys.mkdir(exist_ok=True)
        (keys / "bench.asc").write_bytes(runner.run([*gpg, "--armor", "--export", fpr]).stdout)
        (keys / "trust.yaml").write_text(
            f"keys:\n  bench:\n    file: bench.asc\n    fingerprint: {fpr}\n"
        )
        with open_signer(SigningConfig(gnupghome=home, fingerprint=fpr, key_env=None)) as signer:
            for path, data in documents.items():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                path.with_name(path.name + ".asc").write_bytes(signer.sign_detached(data))
            # The mirror's pages follow its snapshot, as a reconcile leaves them.
            site.catch_up(FilesystemIndexStore(repo / "mirror"), signer)


def _cold_reconcile(repo: Path, work: Path) -> None:
    yamldoc.clear_cache()
    version_of.cache_clear()
    result = reconcile(repo, workspace=Workspace(work), signing=SigningConfig(key_env=None))
    if not result.noop:
        raise AssertionError("the bench's reconcile was not a no-op")


def reconcile_row(repo: Path, images: int, repeat: int) -> dict[str, object]:
    """A no-op `release reconcile`; reference: `cat` of the same index files, by hand."""
    files = publish_indexes(repo)
    work = repo.parent / "work"
    _cold_reconcile(repo, work)
    ours = _median_seconds(lambda: _cold_reconcile(repo, work), repeat)
    signed = [*files, repo / "mirror" / idx.SNAPSHOT_PATH]
    argv = ["cat", *(str(p) + suffix for p in signed for suffix in ("", ".asc"))]
    reference = _median_seconds(lambda: runner.run(argv, cwd=repo), repeat)
    return {
        "what": f"no-op reconcile: {images} images, {len(files)} channels published"
        " (state comparison: HEAD + every index, its signature and the snapshot read; trust"
        " judged once, then remembered)",
        "ours_s": round(ours, 3),
        "reference_s": round(reference, 3),
        "ratio": round(ours / reference, 1),
        "goal": f"< {GOAL_SECONDS:g} s",
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def run(quick: bool) -> list[dict[str, object]]:
    sizes, commits, repeat = ((5, 10), 200, 3) if quick else ((10, 25, 50), 1000, 3)
    rows: list[dict[str, object]] = []
    timings: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as tmp:
        for images in sizes:
            repo = make_repo(Path(tmp), images, commits)
            ours, reference, published = measure(repo, repeat)
            timings[images] = ours
            rows.append(
                {
                    "what": f"plan: {images} images, {4 * images} channels, {commits} commits"
                    f" ({published} channels to publish)",
                    "ours_s": round(ours, 3),
                    "reference_s": round(reference, 3),
                    "ratio": round(ours / reference, 1),
                    "goal": f"< {GOAL_SECONDS:g} s",
                    "peak_rss_mb": round(_peak_rss_mb(), 1),
                }
            )
            if images == max(sizes):
                rows.append(_fresh_process_row(repo, images, repeat))
                rows.append(reconcile_row(repo, images, repeat))
    small, large = min(sizes), max(sizes)
    growth = timings[large] / timings[small]
    rows.append(
        {
            "what": f"growth {small} -> {large} images (linear would be {large / small:g}x)",
            "ours_s": round(growth, 2),
            "reference_s": large / small,
            "ratio": round(growth / (large / small), 2),
            "goal": "ratio <= 1 (no worse than linear)",
            "peak_rss_mb": round(_peak_rss_mb(), 1),
        }
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small repos, for a smoke run")
    rows = run(parser.parse_args().quick)
    columns = ("what", "ours_s", "reference_s", "ratio", "goal", "peak_rss_mb")
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        print("  ".join(str(row[c]).ljust(w) for c, w in zip(columns, widths, strict=True)))


if __name__ == "__main__":
    main()
