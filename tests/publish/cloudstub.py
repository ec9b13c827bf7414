"""Recording HTTP stubs for the cloud APIs that have no emulator here (EC2 import/register,
GCE Compute images). They answer just enough for the SDKs, keep a little state (registered
images and their tags), and record every request so tests assert exactly what was sent.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, str]  # EC2: the form fields; GCE: the query string
    body: Any = None  # GCE: the JSON body
    region: str = ""


@dataclass
class Stub:
    requests: list[Recorded] = field(default_factory=list)
    images: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {region, tags...}
    import_polls_before_done: int = 1
    import_error: str = ""  # set: the import task ends `deleted` with this message
    polls_before_available: int = 1  # DescribeImages by id answering `pending` per new AMI
    broken_copies: dict[str, str] = field(default_factory=dict)  # region -> state of copies
    tokens: dict[str, str] = field(default_factory=dict)  # CopyImage ClientToken -> image id
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, handler: type[BaseHTTPRequestHandler]) -> Stub:
        stub = self

        class Bound(handler):  # type: ignore[valid-type,misc]
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

    def actions(self) -> list[str]:
        return [r.params.get("Action", f"{r.method} {r.path}") for r in self.requests]

    def action(self, name: str) -> list[Recorded]:
        return [r for r in self.requests if r.params.get("Action") == name]


def _xml(action: str, inner: str) -> bytes:
    ns = "http://ec2.amazonaws.com/doc/2016-11-15/"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><{action}Response xmlns="{ns}">'
        f"<requestId>req-1</requestId>{inner}</{action}Response>"
    ).encode()


class Ec2Error(Exception):
    """An EC2 error reply (HTTP 400) with its code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code, self.message = code, message

    def xml(self) -> bytes:
        return (
            '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error>'
            f"<Code>{self.code}</Code><Message>{self.message}</Message>"
            "</Error></Errors><RequestID>req-1</RequestID></Response>"
        ).encode()


class Ec2Handler(BaseHTTPRequestHandler):
    owner: Stub

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        params = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
        scope = re.search(r"Credential=[^/]+/\d+/([^/]+)/", self.headers.get("Authorization", ""))
        region = scope.group(1) if scope else ""
        stub = self.owner
        status = 200
        with stub._lock:
            stub.requests.append(Recorded("POST", self.path, params, region=region))
            try:
                reply = self._answer(stub, params, region)
            except Ec2Error as exc:
                status, reply = 400, exc.xml()
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def _answer(self, stub: Stub, p: dict[str, str], region: str) -> bytes:
        action = p["Action"]
        if action == "DescribeImages":
            return _xml(action, f"<imagesSet>{_describe_images(stub, p, region)}</imagesSet>")
        if action == "ImportSnapshot":
            return _xml(action, "<importTaskId>import-snap-1</importTaskId>")
        if action == "DescribeImportSnapshotTasks":
            polls = len(stub.action(action))
            if polls <= stub.import_polls_before_done:
                detail = (
                    "<status>active</status><progress>42</progress>"
                    "<statusMessage>converting</statusMessage>"
                )
            elif stub.import_error:
                detail = (
                    f"<status>deleted</status><statusMessage>{stub.import_error}</statusMessage>"
                )
            else:
                detail = "<status>completed</status><snapshotId>snap-1</snapshotId>"
            return _xml(
                action,
                "<importSnapshotTaskSet><item><importTaskId>import-snap-1</importTaskId>"
                f"<snapshotTaskDetail>{detail}</snapshotTaskDetail></item></importSnapshotTaskSet>",
            )
        if action in ("RegisterImage", "CopyImage"):
            token = p.get("ClientToken", "")
            if token in stub.tokens:  # EC2's idempotency: the same token, the same image
                return _xml(action, f"<imageId>{stub.tokens[token]}</imageId>")
            taken = [
                i
                for i, img in stub.images.items()
                if img["region"] == region and img["name"] == p["Name"]
            ]
            if taken:  # AMI names are unique per account and region
                raise Ec2Error("InvalidAMIName.Duplicate", f"AMI name {p['Name']} is in use")
            image_id = f"ami-{len(stub.images) + 1:08x}"
            tags = {
                p[k]: p[k.replace(".Key", ".Value")]
                for k in p
                if re.fullmatch(r"TagSpecification\.1\.Tag\.\d+\.Key", k)
            }
            if action == "CopyImage":
                tags = stub.images[p["SourceImageId"]]["tags"]
                stub.tokens[token] = image_id
            stub.images[image_id] = {
                "region": region,
                "tags": tags,
                "name": p["Name"],
                "state": "pending",
                "polls": stub.polls_before_available,
                "end": stub.broken_copies.get(region, "available")
                if action == "CopyImage"
                else "available",
                "launch": [],
            }
            return _xml(action, f"<imageId>{image_id}</imageId>")
        if action == "ModifyImageAttribute":
            image = stub.images[p["ImageId"]]
            for k in sorted(p):
                if re.fullmatch(r"LaunchPermission\.Add\.\d+\.(UserId|Group)", k):
                    entry = (k.rsplit(".", 1)[1], p[k])
                    if entry not in image["launch"]:
                        image["launch"].append(entry)
            return _xml(action, "<return>true</return>")
        if action == "DescribeImageAttribute":
            assert p["Attribute"] == "launchPermission"
            items = "".join(
                f"<item><{'userId' if kind == 'UserId' else 'group'}>{who}"
                f"</{'userId' if kind == 'UserId' else 'group'}></item>"
                for kind, who in stub.images[p["ImageId"]]["launch"]
            )
            return _xml(
                action,
                f"<imageId>{p['ImageId']}</imageId><launchPermission>{items}</launchPermission>",
            )
        raise AssertionError(f"the EC2 stub does not know {action}")


def _describe_images(stub: Stub, p: dict[str, str], region: str) -> str:
    """DescribeImages by ImageId.N (each call moves a pending image towards its end state),
    or by `name` and `tag:` filters."""
    ids = [v for k, v in p.items() if re.fullmatch(r"ImageId\.\d+", k)]
    filters = {
        p[k]: p[k.replace(".Name", ".Value.1")] for k in p if re.fullmatch(r"Filter\.\d+\.Name", k)
    }
    items = []
    for image_id, img in stub.images.items():
        if img["region"] != region or (ids and image_id not in ids):
            continue
        if any(
            (img["name"] if key == "name" else img["tags"].get(key[4:])) != value
            for key, value in filters.items()
        ):
            continue
        if ids and img["state"] == "pending":
            if img["polls"] <= 0:
                img["state"] = img["end"]
            img["polls"] -= 1
        reason = (
            "<stateReason><code>Client.Error</code><message>copy failed: snapshot"
            " unavailable</message></stateReason>"
            if img["state"] != "available" and img["state"] != "pending"
            else ""
        )
        items.append(
            f"<item><imageId>{image_id}</imageId><name>{img['name']}</name>"
            f"<imageState>{img['state']}</imageState>{reason}</item>"
        )
    return "".join(items)


class ComputeHandler(BaseHTTPRequestHandler):
    """GCE Compute's images resource: get (404 until inserted), insert, and operations."""

    owner: Stub

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, code: int, data: dict[str, Any]) -> None:
        raw = json.dumps(data).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _record(self, body: Any) -> None:
        parts = urllib.parse.urlsplit(self.path)
        params = dict(urllib.parse.parse_qsl(parts.query))
        with self.owner._lock:
            self.owner.requests.append(Recorded(self.command, parts.path, params, body))

    def do_GET(self) -> None:
        self._record(None)
        path = urllib.parse.urlsplit(self.path).path
        image = re.fullmatch(r"/compute/v1/projects/([^/]+)/global/images/([^/]+)", path)
        if image:
            found = self.owner.images.get(image.group(2))
            if found is None:
                self._reply(404, {"error": {"code": 404, "message": "not found"}})
            else:
                self._reply(200, found)
            return
        op = re.fullmatch(r"/compute/v1/projects/([^/]+)/global/operations/([^/]+)", path)
        if op:
            self._reply(200, {"name": op.group(2), "status": "DONE", "kind": "compute#operation"})
            return
        self._reply(404, {"error": {"code": 404, "message": "unknown path"}})

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = json.loads(raw) if raw else None
        self._record(body)
        path = urllib.parse.urlsplit(self.path).path
        insert = re.fullmatch(r"/compute/v1/projects/([^/]+)/global/images", path)
        if insert and body is not None:
            with self.owner._lock:
                self.owner.images[body["name"]] = {**body, "status": "READY"}
            self._reply(200, {"name": "op-1", "status": "DONE", "kind": "compute#operation"})
            return
        wait = re.fullmatch(r"/compute/v1/projects/([^/]+)/global/operations/([^/]+)/wait", path)
        if wait:
            self._reply(200, {"name": wait.group(2), "status": "DONE"})
            return
        self._reply(404, {"error": {"code": 404, "message": "unknown path"}})
