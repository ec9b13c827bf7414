"""`python -m tests.chaos.make_release_entry DEFINITION.json WORKSPACE`: make_release in a
process of its own, so a chaos test can kill -9 it. The key comes from RELEASE_SIGNING_KEY."""

from __future__ import annotations

import sys
from pathlib import Path

from release.integrity.signing import SigningConfig, open_signer
from release.model.image import ImageDefinition
from release.pipeline import Workspace, make_release

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def main() -> None:
    image = ImageDefinition.model_validate_json(Path(sys.argv[1]).read_bytes())
    with open_signer(SigningConfig()) as signer:
        made = make_release(
            image, commit=COMMIT, workspace=Workspace(Path(sys.argv[2])), signer=signer
        )
    print(made.directory)


if __name__ == "__main__":
    main()
