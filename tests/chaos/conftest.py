"""Chaos tests reuse the publish servers (moto S3) and the seeded randomness settings here."""

from __future__ import annotations

import os
import random

import pytest

from tests.imaging.conftest import el_repos, make_image  # noqa: F401 - shared fixtures
from tests.integrity.conftest import keys  # noqa: F401 - shared fixtures
from tests.publish.conftest import (  # noqa: F401 - shared fixtures
    aws_env,
    gcs,
    gcs_emulator,
    moto_server,
    rsyncd,
    s3,
    sshd,
)

# RELEASE_CHAOS_RUNS: crash rounds per publish target (filesystem, S3; GCS and the rsync daemon
# half as many, rsync over ssh an eighth), each with 1-2 kills (CI default 12); and RUNS // 2
# reconcile rounds per target (filesystem, S3) with 2 kills each.
RUNS = int(os.environ.get("RELEASE_CHAOS_RUNS", "12"))
# RELEASE_CHAOS_SEED: the gate (.ci/run) replays one fixed seed, so a red run is this change's
# doing; `random` draws one (the nightly chaos workflow), a number replays a printed run.
_SEED = os.environ.get("RELEASE_CHAOS_SEED", "20261125")
SEED = random.SystemRandom().randrange(1 << 32) if _SEED == "random" else int(_SEED)


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    """Seeded per test; the seed is in the report of a failure (rerun with RELEASE_CHAOS_SEED)."""
    request.node.user_properties.append(("RELEASE_CHAOS_SEED", SEED))
    print(f"RELEASE_CHAOS_SEED={SEED}")
    return random.Random(f"{SEED}:{request.node.name}")  # noqa: S311 - reproducible, not secret
