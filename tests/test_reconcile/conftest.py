from tests.integrity.conftest import keys  # noqa: F401
from tests.publish.conftest import aws_env, moto_server  # noqa: F401
from tests.test_build.conftest import el_repos  # noqa: F401
