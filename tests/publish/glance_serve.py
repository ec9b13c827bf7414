"""A real Glance API (the `glance` package from PyPI) on 127.0.0.1, for the tests.

`python -m tests.publish.glance_serve CONFIG_DIR` serves `glance.wsgi.api:application`
(Glance no longer ships a standalone server) with werkzeug's threaded server on a free port,
and prints `port N` once it listens. No Keystone: the paste pipeline the fixture writes puts
`TestContext` where keystonemiddleware would be, an admin of one project (image import
tasks need an owner, which Glance's own unauthenticated context lacks).
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

PROJECT = "release-tests"


class TestContext:
    """Paste filter: every request is an admin of PROJECT."""

    def __init__(self, app: Any) -> None:
        self.app = app

    @classmethod
    def factory(cls, global_conf: Any, **local_conf: Any) -> Any:
        return cls

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        import glance.context

        ctx = glance.context.RequestContext(
            user_id="release", project_id=PROJECT, roles=["admin", "member", "reader"],
            is_admin=True,
        )  # fmt: skip
        environ.setdefault("webob.adhoc_attrs", {})["context"] = ctx  # what `req.context` reads
        return self.app(environ, start_response)


def immediate_transactions() -> None:
    """SQLite answers "database is locked" at once when two deferred transactions both want
    to write (Glance's import thread and a request); BEGIN IMMEDIATE makes the second wait
    (busy timeout) instead. Only this test server's sqlite is concerned."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def rewrite(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> Any:
        return ("BEGIN IMMEDIATE" if statement == "BEGIN" else statement), params

    event.listen(Engine, "before_cursor_execute", rewrite, retval=True)


def main() -> None:
    os.environ["OS_GLANCE_CONFIG_DIR"] = sys.argv[1]
    immediate_transactions()
    from glance.wsgi import api
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, api.application, threaded=True)
    threading.Thread(target=exit_with_parent, daemon=True).start()
    print(f"port {server.port}", flush=True)
    server.serve_forever()


def exit_with_parent() -> None:
    """The fixture holds our stdin open; when it is gone (its process killed, teardown
    skipped), stdin ends and so does this server: nothing is left behind."""
    sys.stdin.buffer.read()
    os._exit(0)


if __name__ == "__main__":
    main()
