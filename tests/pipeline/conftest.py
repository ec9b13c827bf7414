"""The pipeline tests reuse the build fixtures (package repos, image definitions) and the
integrity fixtures (signing keys)."""

from tests.imaging.conftest import el_repos, make_image  # noqa: F401
from tests.integrity.conftest import keys  # noqa: F401
