"""Two `release reconcile` processes at once, round after round, while the channels move.

Each round changes the config (a version bump, promotions, rollbacks), starts two reconcilers
together on the same workspace and mirror, and waits for both. Then: each changed channel was
published by exactly one of them (the other found it done), each new release's files were
sent once in all, every index moved exactly one serial step per change and the snapshot one
per index write (no lost update, no gap, no duplicate), and everything `World.check` promises.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.channelworld import CHANNELS, FsMirror, Mirror, S3Mirror, World, make_world
from tests.conftest import ROOT
from tests.integrity.gpgkit import Keys
from tests.publish.conftest import S3Server

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

ROUNDS = int(os.environ.get("RELEASE_CHAOS_PAIR_ROUNDS", "5"))


def both(world: World, env: dict[str, str], note: str) -> list[dict[str, Any]]:
    procs = [
        subprocess.Popen(
            world.argv(),
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{note}: {err[-2000:]}"
        results.append(json.loads(out))
    return results


def rounds(world: World, env: dict[str, str], rng: random.Random) -> None:
    for round_ in range(ROUNDS):
        changed = world.change(rng, round_)
        new_files = [n for n in world.local if n.split("/")[1] == world.versions[-1]]
        note = f"round {round_}, wanted {world.desired}"
        outcomes = [
            (c["channel"], t["status"], t["detail"])
            for result in both(world, env, note)
            for c in result["channels"]
            for t in c["targets"]
        ]
        for channel in CHANNELS:
            published = [o for o in outcomes if o[0] == channel and o[1] == "published"]
            assert len(published) == (channel in changed), f"{note}: {channel} {outcomes}"
        sent = sum(int(o[2].split()[0]) for o in outcomes if o[1] == "published")
        assert sent == len(new_files), f"{note}: {outcomes}"  # each file sent once in all
        world.check(changed, note)
    world.assert_noop("after the rounds")


@pytest.mark.parametrize("kind", ["filesystem", "s3"])
def test_two_reconcilers_at_once_repeatedly(
    kind: str, keys: Keys, tmp_path: Path, rng: random.Random, request: pytest.FixtureRequest
) -> None:
    mirror: Mirror
    if kind == "filesystem":
        mirror, env = FsMirror(tmp_path / "mirror-root"), dict(os.environ)
    else:
        env = request.getfixturevalue("aws_env")
        server: S3Server = request.getfixturevalue("moto_server")
        mirror = S3Mirror(server.endpoint)
    try:
        rounds(make_world(tmp_path, keys, mirror), env, rng)
    finally:
        if isinstance(mirror, S3Mirror):
            mirror.empty()
