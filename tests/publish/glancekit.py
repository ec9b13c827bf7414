"""Starting and stopping a real Glance API for the tests (see glance_serve.py), and reading
what it holds over plain HTTP (never through the code under test)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

CONF = """[DEFAULT]
enabled_backends = fs:file
enabled_import_methods = [glance-direct,web-download]
log_file = {root}/api.log
[database]
connection = sqlite:///{root}/glance.sqlite
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = {root}/images
[os_glance_staging_store]
filesystem_store_datadir = {root}/staging
[os_glance_tasks_store]
filesystem_store_datadir = {root}/tasks
[paste_deploy]
config_file = {root}/etc/glance-api-paste.ini
[oslo_policy]
enforce_new_defaults = False
enforce_scope = False
[import_filtering_opts]
allowed_ports = []
allowed_hosts = [127.0.0.1]
"""

PASTE = """[composite:glance-api]
paste.composite_factory = glance.api:root_app_factory
/: api
[pipeline:api]
pipeline = versionnegotiation testcontext rootapp
[composite:rootapp]
paste.composite_factory = glance.api:root_app_factory
/: apiversions
/v2: apiv2app
[app:apiversions]
paste.app_factory = glance.api.versions:create_resource
[app:apiv2app]
paste.app_factory = glance.api.v2.router:API.factory
[filter:versionnegotiation]
paste.filter_factory = glance.api.middleware.version_negotiation:VersionNegotiationFilter.factory
[filter:testcontext]
paste.filter_factory = tests.publish.glance_serve:TestContext.factory
"""


@dataclass
class GlanceServer:
    endpoint: str  # unversioned, as the target's endpoint_url
    root: Path

    def call(self, method: str, path: str, body: object = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - loopback http
            f"{self.endpoint}/v2{path}", data=data, method=method
        )
        if data is not None:
            ctype = "application/openstack-images-v2.1-json-patch" if method == "PATCH" else ""
            request.add_header("Content-Type", ctype or "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            raw = response.read()
        return json.loads(raw) if raw else None

    def images(self) -> list[dict[str, Any]]:
        """Every image, hidden ones included."""
        found: list[dict[str, Any]] = []
        for hidden in ("false", "true"):
            found += self.call("GET", f"/images?os_hidden={hidden}&limit=1000")["images"]
        return found

    def members(self, image_id: str) -> list[str]:
        return [m["member_id"] for m in self.call("GET", f"/images/{image_id}/members")["members"]]

    def data(self, image_id: str) -> bytes:
        request = urllib.request.Request(f"{self.endpoint}/v2/images/{image_id}/file")  # noqa: S310
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return bytes(response.read())

    def staged(self, wait: float = 15.0) -> list[str]:
        """Files left in the staging store, once Glance's import task had `wait` seconds to
        clean up (it deletes the staged copy after the image turns active)."""
        deadline = time.monotonic() + wait
        while True:
            left = sorted(p.name for p in (self.root / "staging").iterdir())
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.1)

    def wipe(self) -> None:
        for image in self.images():
            if image["status"] == "deactivated":
                self.call("POST", f"/images/{image['id']}/actions/reactivate")
            with contextlib.suppress(urllib.error.HTTPError):
                self.call("DELETE", f"/images/{image['id']}")


def _ready(endpoint: str, proc: subprocess.Popen[str], deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"glance API exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            url = f"{endpoint}/v2/info/import"
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
                if response.status == 200:
                    return
        time.sleep(0.3)
    raise RuntimeError(f"glance API at {endpoint} did not answer in time")


@contextlib.contextmanager
def running_glance(root: Path) -> Iterator[GlanceServer]:
    """glance-manage db_sync, then the API; stopped (and its process group killed) after."""
    etc = root / "etc"
    for sub in ("etc", "images", "staging", "tasks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (etc / "glance-api.conf").write_text(CONF.format(root=root))
    (etc / "glance-api-paste.ini").write_text(PASTE)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OS_GLANCE_CONFIG_DIR": str(etc)}
    subprocess.run(
        [str(BIN / "glance-manage"), "--config-file", str(etc / "glance-api.conf"), "db_sync"],
        check=True, capture_output=True, env=env, timeout=300,
    )  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.publish.glance_serve", str(etc)],
        stdin=subprocess.PIPE,  # closed when we die: the server then exits (glance_serve.py)
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=REPO,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("port "):
            raise RuntimeError(f"glance API did not start: {line!r} (see {root}/api.log)")
        endpoint = f"http://127.0.0.1:{int(line.split()[1])}"
        _ready(endpoint, proc, time.monotonic() + 120)
        yield GlanceServer(endpoint, root)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
