"""A recording stub of the CloudStack API calls we use, on 127.0.0.1.

It checks every request's signature the way CloudStack's ApiServer does (the parameters but
`signature`, sorted by name, each value URL-encoded as java.net.URLEncoder does with `+` as
`%20`, joined with `&`, lower-cased, HMAC-SHA1 with the secret key, base64) and refuses a
bad one with CloudStack's 401. It keeps the templates registered (one record per zone),
moves each towards ready over a few polls, and records every request so tests assert what was
sent.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import threading
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_KEY = "stub-api-key"
SECRET = "stub-secret-key/with+specials="
OSTYPES = {"CentOS 7": "11111111-2222-3333-4444-555555555555", "CentOS 6.5 (64-bit)": "66"}


def java_urlencode(value: str) -> str:
    """java.net.URLEncoder.encode(value, "UTF-8") with `+` replaced by `%20`."""
    safe = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-*_"
    out = []
    for byte in value.encode("utf-8"):
        out.append(chr(byte) if byte in safe else f"%{byte:02X}")
    return "".join(out)


def expected_signature(params: dict[str, str], secret: str) -> str:
    names = sorted(k for k in params if k != "signature")
    unsigned = "&".join(f"{k}={java_urlencode(params[k])}" for k in names).lower()
    mac = hmac.new(secret.encode(), unsigned.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


@dataclass
class Call:
    command: str
    params: dict[str, str]  # as sent, without apiKey/signature/expires/response


@dataclass
class CloudStackStub:
    secret: str = SECRET
    polls_before_ready: int = 2  # listTemplates answers per zone still downloading
    fail_download: str = ""  # set: the download ends with this status
    calls: list[Call] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)  # bad signatures
    templates: list[dict[str, Any]] = field(default_factory=list)  # one per (id, zone)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> CloudStackStub:
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
        return f"http://127.0.0.1:{self._server.server_address[1]}/client/api"

    def commands(self) -> list[str]:
        return [c.command for c in self.calls]

    def sent(self, command: str) -> list[dict[str, str]]:
        return [c.params for c in self.calls if c.command == command]

    def answer(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        command = params["command"]
        with self._lock:
            return _answer(self, command, params)


class CloudStackErrorReply(Exception):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code, self.text = code, text


def _answer(stub: CloudStackStub, command: str, p: dict[str, str]) -> tuple[int, dict[str, Any]]:
    if command == "listOsTypes":
        found = [
            {"id": i, "description": d} for d, i in OSTYPES.items() if d == p.get("description", d)
        ]
        return 200, {"count": len(found), "ostype": found} if found else {}
    if command == "listTemplates":
        assert p["templatefilter"] == "self"
        matching = [t for t in stub.templates if p.get("name", "") in t["name"]]
        for t in matching:
            _progress(stub, t)
        found = [dict(t) for t in matching]
        return 200, {"count": len(found), "template": found} if found else {}
    if command == "registerTemplate":
        if any(t["name"] == p["name"] for t in stub.templates):
            raise CloudStackErrorReply(431, f"template {p['name']} exists")
        template_id = str(uuid.uuid4())
        status = _download(p["url"], p["checksum"])  # what CloudStack's secondary storage does
        for zone in p["zoneids"].split(","):
            stub.templates.append(
                {
                    "id": template_id,
                    "name": p["name"],
                    "displaytext": p["displaytext"],
                    "zoneid": zone,
                    "checksum": p["checksum"],
                    "ispublic": p["ispublic"] == "true",
                    "isfeatured": p["isfeatured"] == "true",
                    "passwordenabled": p["passwordenabled"] == "true",
                    "isready": False,
                    "status": status,
                    "_polls": 0,
                }
            )
        return 200, {"count": 1, "template": [{"id": template_id, "name": p["name"]}]}
    if command == "copyTemplate":
        source = [t for t in stub.templates if t["id"] == p["id"]]
        if not any(t["zoneid"] == p["sourcezoneid"] and t["isready"] for t in source):
            raise CloudStackErrorReply(431, f"template {p['id']} not ready in the source zone")
        for zone in p["destzoneids"].split(","):
            copy = {**source[0], "zoneid": zone, "isready": False, "status": "", "_polls": 0}
            stub.templates.append(copy)
        return 200, {"jobid": str(uuid.uuid4())}
    if command == "updateTemplatePermissions":
        hit = [t for t in stub.templates if t["id"] == p["id"]]
        if not hit:
            raise CloudStackErrorReply(431, f"no template {p['id']}")
        for t in hit:
            t["ispublic"] = p.get("ispublic", str(t["ispublic"]).lower()) == "true"
            t["isfeatured"] = p.get("isfeatured", str(t["isfeatured"]).lower()) == "true"
        return 200, {"success": True}
    raise CloudStackErrorReply(432, f"the stub does not know {command}")


def _download(url: str, checksum: str) -> str:
    """Fetch the template's URL and check its `{SHA-256}` checksum: "" when good, else the
    status CloudStack shows."""
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:  # noqa: S310 - loopback http
            digest = hashlib.sha256()
            while chunk := reply.read(1 << 20):
                digest.update(chunk)
    except OSError as exc:
        return f"Download Failed: {exc}"
    if checksum != f"{{SHA-256}}{digest.hexdigest()}":
        return "Failed post download script: checksum mismatch"
    return ""


def _progress(stub: CloudStackStub, t: dict[str, Any]) -> None:
    """Each listTemplates moves a downloading template a step towards ready (or failure)."""
    if t["isready"] or t["status"].startswith(("Download Failed", "Failed")):
        return
    t["_polls"] += 1
    if t["_polls"] > stub.polls_before_ready:
        if stub.fail_download:
            t["status"] = stub.fail_download
        else:
            t["isready"], t["status"] = True, "Download Complete"
    else:
        t["status"] = f"{40 * t['_polls']}% Downloaded"


class _Handler(BaseHTTPRequestHandler):
    owner: CloudStackStub

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, code: int, command: str, data: dict[str, Any]) -> None:
        clean = dict(data)
        if isinstance(clean.get("template"), list):
            clean["template"] = [
                {k: v for k, v in t.items() if not k.startswith("_")} for t in clean["template"]
            ]
        raw = json.dumps({f"{command.lower()}response": clean}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        query = urllib.parse.urlsplit(self.path).query
        params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        command = params.get("command", "")
        stub = self.owner
        if not _signed_well(params, stub.secret):
            with stub._lock:
                stub.refused.append(params)
            text = "unable to verify user credentials and/or request signature"
            self._reply(401, command, {"uuidList": [], "errorcode": 401, "errortext": text})
            return
        sent = {
            k: v
            for k, v in params.items()
            if k not in ("apiKey", "signature", "expires", "signatureVersion", "response")
        }
        with stub._lock:
            stub.calls.append(Call(command, {k: v for k, v in sent.items() if k != "command"}))
        try:
            code, data = stub.answer(params)
        except CloudStackErrorReply as exc:
            code, data = exc.code, {"errorcode": exc.code, "errortext": exc.text}
        self._reply(code, command, data)


def _signed_well(params: dict[str, str], secret: str) -> bool:
    if params.get("apiKey") != API_KEY or "signature" not in params:
        return False
    if params.get("signatureVersion") == "3":
        expires = dt.datetime.strptime(params.get("expires", ""), "%Y-%m-%dT%H:%M:%S%z")
        if expires < dt.datetime.now(dt.UTC):
            return False
    return hmac.compare_digest(params["signature"], expected_signature(params, secret))
