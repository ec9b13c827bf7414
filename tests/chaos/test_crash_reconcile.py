"""kill -9 `release reconcile` at seeded random moments, rerun it, and prove the mirror is whole.

Rounds over one config repo and one mirror (filesystem, and S3 on moto with multipart
uploads): each round moves the channels (a version bump, promotions, rollbacks), kills
reconcile twice, each at a moment of its run (a random time, or a few ms after the release's
first object, an open multipart upload, the release in place, a channel index or its
signature or the snapshot's signature changed), checks what a kill may leave, reruns it to
the end, checks everything `World.check` promises, and that a further reconcile is a no-op.
A failure prints the seed: RELEASE_CHAOS_SEED=<seed> RELEASE_CHAOS_RUNS=<n> reproduces it.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.channels.kit import IMAGE
from tests.chaos.channelworld import CHANNELS, FsMirror, S3Mirror, World, make_world
from tests.chaos.channelworld import run_to_end as rerun
from tests.chaos.conftest import RUNS
from tests.chaos.test_crash_publish import Tally, kill_after
from tests.integrity.gpgkit import Keys
from tests.publish.conftest import S3Server

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

ROUNDS = max(1, RUNS // 2)  # per target (CI: 6)
KILLS = 2  # per round: CI kills reconcile 24 times over the two targets
START = (0.3, 1.2)  # seconds after the start when killed at a random time: the run's span


def moments(world: World, changed: set[str], version: str) -> dict[str, Callable[[], bool]]:
    """Moments still ahead in this round's run, each a test of the mirror against now."""
    before = world.mirror.view()
    pending = {c for c in changed if world.points_at(c) != world.desired[c]}
    if not pending:  # at most the snapshot and the lock are left: a kill at a random time
        return {"start": lambda: True}

    def changed_at(name: str) -> Callable[[], bool]:
        return lambda: world.mirror.view().get(name) != before.get(name)

    def any_new(prefix: str) -> Callable[[], bool]:
        return lambda: any(n.startswith(prefix) and n not in before for n in world.mirror.view())

    found = {"start": lambda: True, "snapshot signed": changed_at("channels/snapshot.json.asc")}
    manifest = f"{IMAGE}/{version}/manifest.json"
    if manifest not in before:
        found["first release object"] = any_new(f"{IMAGE}/")
        found["release in place"] = lambda: manifest in world.mirror.view()
        if world.big and isinstance(world.mirror, S3Mirror):
            found["multipart upload open"] = any_new("upload:")
    for channel in pending:
        found[f"{channel} signed"] = changed_at(f"channels/{channel}.json.asc")
        found[f"{channel} written"] = changed_at(f"channels/{channel}.json")
    return found


def crash_rounds(world: World, env: dict[str, str], rng: random.Random) -> Tally:
    tally = Tally()
    for round_ in range(ROUNDS):
        changed = world.change(rng, round_)
        kills: list[tuple[str, float]] = []
        note = f"round {round_}, wanted {world.desired}, kills (moment, then delay) {kills}"
        for _ in range(KILLS):  # the second one kills the run resuming the first
            points = moments(world, changed, world.versions[-1])
            moment = rng.choice(sorted(points))
            low, high = START if moment == "start" else (0.0, 0.02)
            kills.append((moment, round(rng.uniform(low, high), 3)))
            note = f"round {round_}, wanted {world.desired}, kills (moment, then delay) {kills}"
            kill_after(world.argv(), kills[-1][1], env, tally, points[moment])
            world.check_mid_run(note)
        rerun(world.argv(), env, note)
        tally.reruns += 1
        world.check(changed, note, killed=True)
        world.assert_noop(note)
    print(f"reconcile chaos tally: {tally.kills} kills, {tally.finished_first} finished first,"
          f" {tally.reruns} reruns; serials {world.serials}")  # fmt: skip
    assert sorted(world.serials) == sorted(CHANNELS)
    return tally


def test_kill_9_reconcile_filesystem(keys: Keys, tmp_path: Path, rng: random.Random) -> None:
    world = make_world(tmp_path, keys, FsMirror(tmp_path / "mirror-root"))
    tally = crash_rounds(world, dict(os.environ), rng)
    assert tally.kills >= ROUNDS


def test_kill_9_reconcile_s3(
    moto_server: S3Server,
    aws_env: dict[str, str],
    keys: Keys,
    tmp_path: Path,
    rng: random.Random,
) -> None:
    mirror = S3Mirror(moto_server.endpoint)
    try:
        tally = crash_rounds(make_world(tmp_path, keys, mirror), aws_env, rng)
    finally:
        mirror.empty()
    assert tally.kills >= ROUNDS
