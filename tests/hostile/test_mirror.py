"""`release verify` against a mirror an attacker controls (issue 15, items 1-8).

Every case runs the real command in its own process against a real HTTP server on 127.0.0.1
or a local tree, and must end with exit 3 (the mirror's fault), one line on stderr, no
traceback, and within its deadline. None may ever exit 0: the attacker has no signing key.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest

from release.cli import main
from tests.hostile.mirror import (
    CHANNEL,
    EL6,
    EL6_VERSION,
    EL7,
    NEW,
    OLD,
    Mirror,
    build_mirror,
    copy_mirror,
    serve,
)
from tests.integrity.gpgkit import Keys, agents_of

pytestmark = pytest.mark.chaos

ROOT = Path(__file__).resolve().parents[2]
SLACK = 15.0  # start-up (python, gpg import) and a loaded 2-core machine


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def verify(*args: str | Path, cwd: Path | None = None) -> Run:
    """`release verify ARGS` in this process, through the same entry point as the command."""
    out, err = io.StringIO(), io.StringIO()
    start = time.monotonic()
    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.chdir(cwd or ROOT))
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        stack.enter_context(mock.patch.object(sys, "argv", ["release", "verify", *map(str, args)]))
        with pytest.raises(SystemExit) as done:
            main()
    code = done.value.code
    return Run(code if isinstance(code, int) else 1, out.getvalue(), err.getvalue(),
               time.monotonic() - start)  # fmt: skip


def verify_process(*args: str | Path, timeout: float = 90) -> Run:
    """`release verify ARGS` in a fresh process: where the old code hung, the test ends."""
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "release", "verify", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=timeout,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)


def assert_refused(run: Run, *needles: str) -> None:
    """Exit 3, one error line, no traceback, and each needle said somewhere."""
    assert run.returncode == 3, (run.returncode, run.stdout, run.stderr)
    assert "Traceback" not in run.stderr + run.stdout
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    text = run.stdout + run.stderr
    for needle in needles:
        assert needle in text, (needle, text)


@pytest.fixture(scope="module")
def pristine(keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Mirror:
    return build_mirror(tmp_path_factory.mktemp("hostile-mirror"), keys)


@pytest.fixture
def mirror(pristine: Mirror, tmp_path: Path) -> Mirror:
    return copy_mirror(pristine, tmp_path / "mirror")


def channel_args(mirror: Mirror, serials: Path, *extra: str) -> list[str]:
    return [
        "--channel", CHANNEL, "--keys", str(mirror.keys_dir), "--serials", str(serials), *extra,
    ]  # fmt: skip


def release_args(mirror: Mirror, *extra: str) -> list[str]:
    return ["--keys", str(mirror.keys_dir), *extra]


def plant_old_release_at_root(mirror: Mirror) -> None:
    """The item-1 attack: an older, validly signed release's files at the mirror's root."""
    for path in mirror.release(EL7, OLD).iterdir():
        shutil.copy(path, mirror.root / path.name)


def test_the_mirror_is_good_to_begin_with(mirror: Mirror, tmp_path: Path) -> None:
    """The baseline every attack below departs from: exit 0, over HTTP and locally."""
    with serve(mirror.root) as server:
        run = verify(server.url, *channel_args(mirror, tmp_path / "s.json"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{EL7} {NEW}" in run.stdout
    run = verify(mirror.release(EL7, NEW), *release_args(mirror))
    assert run.returncode == 0, run.stdout + run.stderr


# --- item 1: --channel never falls back to a plain release check -------------------------

INDEX = f"channels/{CHANNEL}.json"


@pytest.mark.parametrize(
    "rule", ["404", "500", "oversized", "endless", "length:abc", "length:12abc"]
)
def test_channel_without_a_valid_index_over_http_is_exit_3(
    mirror: Mirror, tmp_path: Path, rule: str
) -> None:
    plant_old_release_at_root(mirror)
    with serve(mirror.root, {INDEX: rule}) as server:
        run = verify(server.url, *channel_args(mirror, tmp_path / "s.json"))
    assert_refused(run, f"channel {CHANNEL}: FAILED")


@pytest.mark.parametrize("rule", ["404", "500", "length:abc"])
def test_a_missing_or_broken_index_at_a_plain_mirror_root_is_exit_3(
    mirror: Mirror, tmp_path: Path, rule: str
) -> None:
    with serve(mirror.root, {INDEX: rule}) as server:
        run = verify(server.url, *channel_args(mirror, tmp_path / "s.json"))
    assert_refused(run, INDEX)


def test_a_symlinked_local_index_is_refused_not_skipped(mirror: Mirror, tmp_path: Path) -> None:
    index = mirror.root / INDEX
    shutil.move(index, tmp_path / "elsewhere.json")
    index.symlink_to(tmp_path / "elsewhere.json")
    run = verify(mirror.root, *channel_args(mirror, tmp_path / "s.json"))
    assert_refused(run, "symlink")
    plant_old_release_at_root(mirror)  # and with a release to fall back on
    assert_refused(verify(mirror.root, *channel_args(mirror, tmp_path / "s.json")))


def test_a_symlinked_channels_folder_is_refused(mirror: Mirror, tmp_path: Path) -> None:
    shutil.move(mirror.root / "channels", tmp_path / "channels")
    (mirror.root / "channels").symlink_to(tmp_path / "channels")
    assert_refused(verify(mirror.root, *channel_args(mirror, tmp_path / "s.json")), "symlink")


# --- item 2: a channels/ folder planted inside a release directory ------------------------


def test_a_channels_folder_planted_in_a_release_is_not_followed(
    mirror: Mirror, tmp_path: Path
) -> None:
    target = mirror.release(EL7, NEW)
    (target / "channels").mkdir()
    for path in (mirror.root / "channels").iterdir():
        shutil.copy(path, target / "channels" / path.name)
    # ...with the release its index names right there, so that following it would pass.
    shutil.copytree(mirror.release(EL7, NEW), target / EL7 / NEW)
    run = verify(target, *channel_args(mirror, tmp_path / "s.json"))
    assert_refused(run, "release directory, not a mirror root")


# --- item 3: replay protection does not depend on how the root is spelled ------------------


def _replay_spellings(mirror: Mirror, tmp_path: Path) -> Iterator[tuple[str, Path | None]]:
    """(root as the client spells it, cwd) for a second mirror holding generation 1."""
    other = copy_mirror(mirror, tmp_path / "second-mirror")
    other.replay(1)
    yield str(other.root), None
    yield os.path.relpath(other.root, tmp_path), tmp_path
    yield f"{other.root}/channels/..", None


def test_a_replay_is_caught_whatever_the_local_root_is_called(
    mirror: Mirror, tmp_path: Path
) -> None:
    serials = tmp_path / "serials.json"
    seen = verify(mirror.root, *channel_args(mirror, serials))
    assert seen.returncode == 0, seen.stdout + seen.stderr
    for root, cwd in _replay_spellings(mirror, tmp_path):
        run = verify(root, *channel_args(mirror, serials), cwd=cwd)
        assert_refused(run, "replayed", "serial 1 is lower than 2")


def test_a_replay_is_caught_on_another_host_name_and_another_mirror(
    mirror: Mirror, tmp_path: Path
) -> None:
    serials = tmp_path / "serials.json"
    old = copy_mirror(mirror, tmp_path / "old-mirror")
    old.replay(1)
    with serve(mirror.root) as good, serve(old.root) as stale:
        assert verify(good.url, *channel_args(mirror, serials)).returncode == 0
        other_name = stale.url.replace("127.0.0.1", "localhost")
        assert_refused(verify(stale.url, *channel_args(mirror, serials)), "replayed")
        assert_refused(verify(other_name, *channel_args(mirror, serials)), "replayed")


# --- item 4: another image's release under <image>/<version>/ -----------------------------


def _swap(mirror: Mirror, image: str, version: str) -> Path:
    """Put release (image, version) where EL7 NEW is served; returns that place."""
    place = mirror.release(EL7, NEW)
    shutil.rmtree(place)
    shutil.copytree(mirror.release(image, version), place)
    return place


def test_another_images_release_is_refused_locally_and_over_http(
    mirror: Mirror, tmp_path: Path
) -> None:
    place = _swap(mirror, EL6, EL6_VERSION)
    expected = f"should hold {EL7} {NEW}, but its signed manifest is {EL6} {EL6_VERSION}"
    assert_refused(verify(place, *release_args(mirror)), expected)
    with serve(mirror.root) as server:
        url = f"{server.url}{EL7}/{NEW}/"
        assert_refused(verify(url, *release_args(mirror)), expected)


def test_an_older_release_under_the_new_name_is_refused(mirror: Mirror) -> None:
    place = _swap(mirror, EL7, OLD)
    assert_refused(verify(place, *release_args(mirror)), "an older release served")


def test_what_was_asked_for_wins_over_the_directory_name(mirror: Mirror, tmp_path: Path) -> None:
    download = shutil.copytree(mirror.release(EL7, NEW), tmp_path / "my-download")
    run = verify(download, *release_args(mirror))
    assert_refused(run, "read from the path: pass --image and --version")
    ok = verify(download, *release_args(mirror, "--image", EL7, "--version", NEW))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    run = verify(download, *release_args(mirror, "--image", EL7, "--version", OLD))
    assert_refused(run, f"should hold {EL7} {OLD}")


# --- item 5: each signed document is read once ---------------------------------------------


def test_channel_verification_downloads_each_document_once(mirror: Mirror, tmp_path: Path) -> None:
    with serve(mirror.root) as server:
        run = verify(server.url, *channel_args(mirror, tmp_path / "s.json"))
    assert run.returncode == 0, run.stdout + run.stderr
    twice = sorted({r for r in server.requests if server.requests.count(r) > 1})
    assert twice == [], f"downloaded more than once: {twice}"
    assert f"{EL7}/{NEW}/manifest.json" in server.requests


# --- item 6: malformed Content-Length --------------------------------------------------------

ARTIFACT = f"{EL7}/{NEW}/{EL7}-{NEW}-openstack.qcow2"


@pytest.mark.parametrize("value", ["abc", "12abc", "-5", ""])
@pytest.mark.parametrize("path", [f"{EL7}/{NEW}/manifest.json", ARTIFACT])
def test_a_malformed_content_length_is_one_line_and_exit_3(
    mirror: Mirror, path: str, value: str
) -> None:
    with serve(mirror.root, {path: f"length:{value}"}) as server:
        run = verify(f"{server.url}{EL7}/{NEW}/", *release_args(mirror))
    assert_refused(run)
    assert f"malformed Content-Length {value!r}" in run.stdout


@pytest.mark.parametrize("target", ["ftp://127.0.0.1:9/x", "file:///etc/passwd"])
def test_a_redirect_out_of_http_is_not_followed(mirror: Mirror, target: str) -> None:
    with serve(mirror.root, {f"{EL7}/{NEW}/manifest.json": f"redirect:{target}"}) as server:
        run = verify(f"{server.url}{EL7}/{NEW}/", *release_args(mirror))
    assert_refused(run)  # urllib refuses file:// itself; we refuse ftp:// (it would go there)
    assert "redirect" in run.stdout.lower() and target in run.stdout


# --- item 7: FIFOs in a local mirror ---------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", [f"{EL7}-{NEW}-openstack.qcow2", "manifest.json.asc"])
def test_a_fifo_is_refused_without_blocking(mirror: Mirror, name: str) -> None:
    place = mirror.release(EL7, NEW)
    (place / name).unlink()
    os.mkfifo(place / name)
    run = verify_process(place, *release_args(mirror), timeout=60)
    assert_refused(run, f"{name}", "not a regular file (a FIFO)")


# --- item 8: deadlines ----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("path", [INDEX, f"{EL7}/{NEW}/manifest.json", ARTIFACT])
def test_a_trickling_document_is_cut_at_its_deadline(
    mirror: Mirror, tmp_path: Path, path: str
) -> None:
    with serve(mirror.root, {path: "trickle"}) as server:
        args = channel_args(mirror, tmp_path / "s.json", "--document-timeout", "3")
        run = verify_process(server.url, *args, timeout=60)
    assert_refused(run, "time limit for", "3 s) passed")
    assert run.seconds < 3 + SLACK


@pytest.mark.slow
def test_the_run_has_a_deadline_over_all_documents(mirror: Mirror, tmp_path: Path) -> None:
    # Each document alone stays within its own (long) limit; together they cannot.
    trickled = [INDEX, f"{INDEX}.asc", "channels/snapshot.json", "channels/snapshot.json.asc"]
    with serve(mirror.root, dict.fromkeys(trickled, "trickle")) as server:
        args = channel_args(mirror, tmp_path / "s.json", "--timeout", "5")
        run = verify_process(server.url, *args, "--document-timeout", "1000", timeout=60)
    assert_refused(run, "the run's time limit (5 s) passed")
    assert run.seconds < 5 + SLACK


def _start_and_wait_for_home(args: list[str]) -> tuple[subprocess.Popen[bytes], Path]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "release", "verify", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    end = time.monotonic() + 60
    while time.monotonic() < end:
        homes = list(Path("/tmp").glob(f"rel-verify-{proc.pid}-*"))
        if homes and agents_of(homes[0]):
            return proc, homes[0]
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    raise AssertionError("release verify never made its GnuPG home and agent")


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_killed_verify_leaves_no_gnupg_home_nor_agent(
    mirror: Mirror, tmp_path: Path, signum: int
) -> None:
    with serve(mirror.root, {f"{EL7}/{NEW}/sha256sum.txt": "trickle"}) as server:
        url = f"{server.url}{EL7}/{NEW}/"
        proc, home = _start_and_wait_for_home([url, *release_args(mirror)])
        agents = agents_of(home)
        try:
            proc.send_signal(signum)
            _, stderr = proc.communicate(timeout=60)
        finally:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert b"Traceback" not in stderr
    assert not home.exists(), "the verifier's GnuPG home was left behind"
    end = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in agents) and time.monotonic() < end:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{pid}").exists() for pid in agents), "gpg-agent left running"
