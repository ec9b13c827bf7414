"""A recording stub of the Azure Resource Manager calls we make to Compute (managed images,
gallery image versions): GET (404 until PUT), PUT (stored; `Creating` for a few GETs, then
`Succeeded`). It records every request (method, path, api-version, JSON body, whether a bearer
token came) so tests assert what was sent. No Compute emulator exists."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo

_RESOURCE = re.compile(
    r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/"
    r"(images/[^/]+|galleries/[^/]+/images/[^/]+/versions/[^/]+)"
)


@dataclass
class ArmRequest:
    method: str
    path: str
    body: Any
    bearer: str


@dataclass
class ArmStub:
    polls_before_ready: int = 1
    end_state: str = "Succeeded"
    requests: list[ArmRequest] = field(default_factory=list)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)  # path -> resource
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> ArmStub:
        stub = self

        class Bound(_Handler):
            owner = stub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Bound)
        server = self._server
        threading.Thread(target=lambda: server.serve_forever(0.05), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def sent(self, method: str) -> list[ArmRequest]:
        return [r for r in self.requests if r.method == method]


class _Handler(BaseHTTPRequestHandler):
    owner: ArmStub

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, code: int, data: dict[str, Any]) -> None:
        raw = json.dumps(data).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _start(self) -> tuple[str, Any]:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length)) if length else None
        path = urllib.parse.urlsplit(self.path).path
        bearer = self.headers.get("Authorization", "")
        with self.owner._lock:
            self.owner.requests.append(ArmRequest(self.command, path, body, bearer))
        return path, body

    def do_GET(self) -> None:
        path, _ = self._start()
        stub = self.owner
        with stub._lock:
            found = stub.resources.get(path)
            if found is not None and found["properties"]["provisioningState"] == "Creating":
                found["_polls"] -= 1
                if found["_polls"] < 0:
                    found["properties"]["provisioningState"] = stub.end_state
            shown = None if found is None else {k: v for k, v in found.items() if k != "_polls"}
        if shown is None:
            self._reply(404, {"error": {"code": "NotFound", "message": f"{path} not found"}})
        else:
            self._reply(200, shown)

    def do_PUT(self) -> None:
        path, body = self._start()
        if not _RESOURCE.fullmatch(path) or not isinstance(body, dict):
            self._reply(400, {"error": {"code": "BadRequest", "message": "not a resource"}})
            return
        stub = self.owner
        with stub._lock:
            existed = path in stub.resources
            resource = {
                "id": path,
                "name": path.rsplit("/", 1)[1],
                "location": body.get("location"),
                "tags": body.get("tags", {}),
                "properties": {**body.get("properties", {}), "provisioningState": "Creating"},
                "_polls": stub.polls_before_ready,
            }
            if existed:  # an update of a created resource keeps its state
                old = stub.resources[path]["properties"]["provisioningState"]
                resource["properties"]["provisioningState"] = old
            stub.resources[path] = resource
            shown = {k: v for k, v in resource.items() if k != "_polls"}
        self._reply(200 if existed else 201, shown)


ACCOUNT_ID = (
    "/subscriptions/sub-1/resourceGroups/images/providers/Microsoft.Storage/storageAccounts/st"
)


class FakeCredential:
    """A token credential that hands out a fixed token (the stub checks it came)."""

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        return AccessToken("fake-token", int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: object = None) -> AccessTokenInfo:
        return AccessTokenInfo("fake-token", int(time.time()) + 3600)
