"""A config repo with three channels moving over rounds, a mirror reconcile publishes them to
(filesystem, S3 on moto, GCS on fake-gcs-server, an rsync daemon's tree), and checks of that
mirror made without the code under test: gpgv for signatures, hashlib for digests, json for
the documents, sqlite3 for the journal.

`World.check` is what must hold after every completed reconcile: each channel index is signed
by the expected key and points at the release git asks for, the snapshot (signed) lists
every index's sha256, each index serial moved one step per change and the snapshot's one per
index write, every object of every published release is there byte for byte (the sealed
files) and nothing else is (no staging, `.part` or lock left over, no second copy), no
multipart upload is open, and every step the journal calls done names an object that is
there with that digest.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import boto3
from google.api_core import exceptions as gx

from release.channels.reconcile import reconcile
from release.integrity.signing import SigningConfig
from release.pipeline import Workspace
from tests.channels.kit import IMAGE, ConfigKit, channel_yaml, image_yaml, make_config
from tests.channels.kit import sealed_release as seal_release
from tests.conftest import ROOT, git
from tests.integrity.gpgkit import Keys, gpg

CHANNELS = ("fx-candidate", "fx-stable", "fx-testing")
CHANNEL_FILES = {
    *(f"channels/{c}.json{s}" for c in CHANNELS for s in ("", ".asc")),
    "channels/snapshot.json",
    "channels/snapshot.json.asc",
}
LOCK = "channels/.lock"
MiB = 1 << 20


class Mirror(Protocol):
    target: str  # the target's YAML
    base: str  # the URL the publish journal names objects under
    size: int  # bytes of a large release's disk (an S3 multipart upload above 16 MiB)

    def view(self) -> dict[str, str]:
        """Every object (relative name -> a token that changes when it is rewritten), and each
        open multipart upload as `upload:<key>`."""
        ...

    def read(self, name: str) -> bytes | None: ...

    def uploads(self) -> list[str]: ...


class FsMirror:
    size = 8 * MiB

    def __init__(self, root: Path) -> None:
        self.root = root.absolute()
        self.target = f"type: filesystem\npath: {self.root}\n"
        self.base = self.root.as_uri()

    def view(self) -> dict[str, str]:
        found = {}
        for folder, _dirs, names in os.walk(self.root):  # errors (a folder renamed) are skipped
            for name in names:
                path = Path(folder) / name
                try:
                    st = path.stat()
                except FileNotFoundError:  # renamed while we looked
                    continue
                found[str(path.relative_to(self.root))] = f"{st.st_mtime_ns}:{st.st_size}"
        return found

    def read(self, name: str) -> bytes | None:
        path = self.root / name
        return path.read_bytes() if path.is_file() else None

    def uploads(self) -> list[str]:
        return []


class S3Mirror:
    size = 17 * MiB  # two parts of 16 MiB at most: reconcile publishes it multipart

    def __init__(self, endpoint: str, via: str | None = None) -> None:
        """Read from `endpoint`; the target publishes through `via` (default: the same)."""
        self.bucket = f"rc{uuid.uuid4().hex[:12]}"
        self.s3: Any = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        self.s3.create_bucket(Bucket=self.bucket)
        self.target = (
            f"type: s3\nbucket: {self.bucket}\nprefix: pub\nendpoint_url: {via or endpoint}\n"
        )
        self.base = f"s3://{self.bucket}/pub"

    def view(self) -> dict[str, str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        found = {
            o["Key"].removeprefix("pub/"): o["ETag"] for p in pages for o in p.get("Contents", [])
        }
        found.update({f"upload:{key}": "open" for key in self.uploads()})
        return found

    def read(self, name: str) -> bytes | None:
        try:
            body: bytes = self.s3.get_object(Bucket=self.bucket, Key=f"pub/{name}")["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        return body

    def uploads(self) -> list[str]:
        listed = self.s3.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])
        return [f"{u['Key']} {u['UploadId']}" for u in listed]

    def empty(self) -> None:
        """Give moto's memory back (the server lives for the whole session)."""
        for upload in self.s3.list_multipart_uploads(Bucket=self.bucket).get("Uploads", []):
            self.s3.abort_multipart_upload(
                Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
        for name in self.view():
            self.s3.delete_object(Bucket=self.bucket, Key=f"pub/{name}")
        self.s3.delete_bucket(Bucket=self.bucket)


class GcsMirror:
    """A bucket on fake-gcs-server, read straight from `endpoint`; the target publishes
    through `via`. Every file of a release is at most 8 MiB: one create-only request each."""

    size = 2 * MiB

    def __init__(self, client: Any, via: str) -> None:
        self.bucket: Any = client.create_bucket(f"rc{uuid.uuid4().hex[:12]}")
        self.target = f"type: gcs\nbucket: {self.bucket.name}\nprefix: pub\nendpoint_url: {via}\n"
        self.base = f"gs://{self.bucket.name}/pub"

    def view(self) -> dict[str, str]:
        return {
            b.name.removeprefix("pub/"): str(b.generation)
            for b in self.bucket.list_blobs(prefix="pub/")
        }

    def read(self, name: str) -> bytes | None:
        try:
            data: bytes = self.bucket.blob(f"pub/{name}").download_as_bytes()
        except gx.NotFound:
            return None
        return data

    def uploads(self) -> list[str]:
        return []  # no resumable session: nothing is left open

    def generation(self, name: str) -> str:
        """The generation of object `name` now (a compare-and-swap write names it)."""
        blob = self.bucket.get_blob(f"pub/{name}")
        assert blob is not None, name
        return str(blob.generation)


class RsyncMirror(FsMirror):
    """The tree under an rsync daemon's module, published to through `url`."""

    size = 4 * MiB

    def __init__(self, root: Path, url: str) -> None:
        super().__init__(root)
        self.target = f"type: rsync\nurl: {url}\n"
        self.base = url


class Gpgv:
    """Signature checks by gpgv against a keyring of the one key that signs everything."""

    def __init__(self, keys: Keys, where: Path) -> None:
        self.fingerprint = keys.fpr["good"]
        self.home = where / "gpgv-home"
        self.home.mkdir(mode=0o700)
        self.keyring = where / "good.gpg"
        self.keyring.write_bytes(gpg(keys.home, "--export", self.fingerprint))

    def signer(self, data: bytes, signature: bytes) -> str | None:
        with tempfile.TemporaryDirectory(dir=self.home.parent) as scratch:
            (Path(scratch) / "d").write_bytes(data)
            (Path(scratch) / "d.asc").write_bytes(signature)
            done = subprocess.run(
                ["gpgv", "--homedir", str(self.home), "--keyring", str(self.keyring),
                 "--status-fd", "1", str(Path(scratch) / "d.asc"), str(Path(scratch) / "d")],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
        found = re.search(r"^\[GNUPG:\] VALIDSIG ([0-9A-F]{40}) ", done.stdout, re.MULTILINE)
        return found.group(1) if done.returncode == 0 and found else None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class World:
    kit: ConfigKit
    keys: Keys
    work: Path
    mirror: Mirror
    gpgv: Gpgv
    journal: Path
    desired: dict[str, str] = field(default_factory=dict)
    versions: list[str] = field(default_factory=list)  # sealed, oldest first
    local: dict[str, str] = field(default_factory=dict)  # release object -> sha256 sealed
    verified: dict[str, tuple[str, str]] = field(default_factory=dict)  # -> (token, sha256)
    serials: dict[str, int] = field(default_factory=dict)
    snapshot_serial: int = 0
    big: bool = False  # this round's release is large (multipart on S3)

    def argv(self, journal: Path | None = None) -> list[str]:
        return [sys.executable, "-m", "tests.channels.cli_entry", "reconcile",
                "--repo", str(self.kit.clone), "--work", str(self.work),
                "--journal", str(journal or self.journal), "--gnupghome", str(self.keys.home),
                "--fingerprint", self.keys.fpr["good"], "--json"]  # fmt: skip

    def publish_argv(self, channel: str, *extra: str) -> list[str]:
        """`release publish --channel <channel>` on this world."""
        argv = self.argv()
        return [*argv[:3], "publish", "--channel", channel, *argv[4:], *extra]

    def files(self) -> dict[str, bytes | None]:
        """The channel files (indexes, snapshot, their signatures) as they are now."""
        return {name: self.mirror.read(name) for name in sorted(CHANNEL_FILES)}

    def bump(self, round_: int) -> set[str]:
        """A version bump that only fx-testing follows (the other channels stay pinned)."""
        version = f"1.0.{round_}"
        self._seal(version, self.mirror.size)
        (self.kit.clone / "images" / f"{IMAGE}.yaml").write_text(image_yaml(version))
        git(self.kit.clone, "commit", "-q", "-a", "-m", f"bump to {version}")
        self.desired = {**self.desired, "fx-testing": version}
        return {"fx-testing"}

    def _seal(self, version: str, size: int) -> None:
        directory = seal_release(Workspace(self.work), self.keys, version, size=size)
        for path in directory.iterdir():
            self.local[f"{IMAGE}/{version}/{path.name}"] = sha256(path.read_bytes())
        self.versions.append(version)

    def change(self, rng: random.Random, round_: int) -> set[str]:
        """Round 0: the first publish. Later: a version bump (fx-testing follows it), and at
        random a promotion or rollback of fx-candidate and fx-stable. The channels whose
        desired release changed."""
        clone = self.kit.clone
        self.big = round_ % 3 == 0  # every third release as large as the mirror wants
        size = self.mirror.size if self.big else 50_000
        if round_ == 0:
            (clone / "channels" / "fx-candidate.yaml").write_text(channel_yaml('"1.0.0"'))
            self._seal("1.0.0", size)
            wanted = dict.fromkeys(CHANNELS, "1.0.0")
        else:
            version = f"1.0.{round_}"
            self._seal(version, size)
            (clone / "images" / f"{IMAGE}.yaml").write_text(image_yaml(version))
            wanted = {**self.desired, "fx-testing": version}
            wanted["fx-candidate"] = rng.choice([wanted["fx-candidate"], version, *self.versions])
            wanted["fx-stable"] = rng.choice([wanted["fx-stable"], *self.versions[:-1]])
            for name in ("fx-candidate", "fx-stable"):
                (clone / "channels" / f"{name}.yaml").write_text(channel_yaml(f'"{wanted[name]}"'))
        git(clone, "add", "-A")
        git(clone, "commit", "-q", "-m", f"round {round_}: {wanted}")
        changed = {c for c in CHANNELS if wanted[c] != self.desired.get(c)}
        self.desired = wanted
        return changed

    def points_at(self, channel: str) -> str | None:
        """The version the channel's index on the mirror names now."""
        data = self.mirror.read(f"channels/{channel}.json")
        return str(json.loads(data)["current"]["version"]) if data else None

    def published(self) -> set[str]:
        """Every object of every sealed release: each was fx-testing's in its round."""
        return set(self.local)

    def site_files(self) -> set[str]:
        """The browsable mirror: front and image pages, a page per release, the catalogues
        and the signing key (docs/channels.md)."""
        versions = {name.split("/")[1] for name in self.local}
        return {
            "index.html",
            f"{IMAGE}/index.html",
            *(f"{IMAGE}/{v}/index.html" for v in versions),
            *(f"streams/v1/{c}.json{s}" for c in CHANNELS for s in ("", ".asc")),
            f"keys/{self.gpgv.fingerprint}.asc",
        }

    def _digest(self, view: dict[str, str], name: str) -> str | None:
        """The sha256 of object `name` as it is now (hashed again only if it was rewritten)."""
        token = view.get(name)
        if token is None:
            return None
        known = self.verified.get(name)
        if known and known[0] == token:
            return known[1]
        data = self.mirror.read(name)
        if data is None:
            return None
        self.verified[name] = (token, sha256(data))
        return self.verified[name][1]

    def check_mid_run(self, note: str) -> None:
        """Right after a kill: an object under a final name is whole, and every index that
        is there points at a release whose every object is there."""
        view = self.mirror.view()
        for name in view:
            parts = name.split("/")
            page = parts[-1] == "index.html"  # the mirror's pages: written whole by the store
            if parts[0] == IMAGE and not page and not any(p.startswith(".") for p in parts):
                assert self._digest(view, name) == self.local[name], f"{note}: {name} is partial"
        for channel in CHANNELS:
            data = self.mirror.read(f"channels/{channel}.json")
            if data is not None:
                self._check_release(view, json.loads(data)["current"], note)

    def _check_release(self, view: dict[str, str], current: dict[str, str], note: str) -> None:
        folder = f"{IMAGE}/{current['version']}"
        assert current["path"] == folder, note
        names = [n for n in self.local if n.startswith(folder + "/")]
        for name in names:
            assert self._digest(view, name) == self.local[name], f"{note}: {name} not there"
        manifest = self.mirror.read(f"{folder}/manifest.json") or b""
        assert sha256(manifest) == current["manifest_sha256"], note
        signature = self.mirror.read(f"{folder}/manifest.json.asc") or b""
        assert self.gpgv.signer(manifest, signature) == self.gpgv.fingerprint, note
        sums = (self.mirror.read(f"{folder}/sha256sum.txt") or b"").decode()
        listed = re.findall(r"^([0-9a-f]{64})  (\S+)$", sums, re.MULTILINE)
        assert listed, f"{note}: {folder}/sha256sum.txt lists nothing"
        for digest, name in listed:
            assert self._digest(view, f"{folder}/{name}") == digest, f"{note}: {name}"

    def check(self, changed: set[str], note: str, killed: bool = False) -> None:
        """After a completed reconcile: see the module docstring. `killed`: runs were killed
        before this one completed; a kill between a snapshot's signature and its bytes leaves a
        snapshot no key vouches for, which the rerun replaces with a fresh one before the
        changed channels' writes: then the snapshot moves one step more than the channels."""
        view = self.mirror.view()
        snapshot = self.mirror.read("channels/snapshot.json") or b""
        snapshot_sig = self.mirror.read("channels/snapshot.json.asc") or b""
        assert self.gpgv.signer(snapshot, snapshot_sig) == self.gpgv.fingerprint, note
        listed = json.loads(snapshot)
        assert sorted(listed["indexes"]) == sorted(CHANNELS), note
        for channel in CHANNELS:
            data = self.mirror.read(f"channels/{channel}.json") or b""
            signature = self.mirror.read(f"channels/{channel}.json.asc") or b""
            assert self.gpgv.signer(data, signature) == self.gpgv.fingerprint, f"{note}: {channel}"
            index = json.loads(data)
            assert index["channel"] == channel, note
            assert index["current"]["version"] == self.desired[channel], f"{note}: {channel}"
            assert listed["indexes"][channel] == sha256(data), f"{note}: {channel} not in snapshot"
            step = 1 if channel in changed else 0
            assert index["serial"] == self.serials.get(channel, 0) + step, f"{note}: {channel}"
            self.serials[channel] = index["serial"]
            self._check_release(view, index["current"], note)
        steps = listed["serial"] - self.snapshot_serial
        allowed = {len(changed), len(changed) + 1} if killed else {len(changed)}
        assert steps in allowed, f"{note}: snapshot moved {steps} steps, not {sorted(allowed)}"
        self.snapshot_serial = listed["serial"]
        want = (
            CHANNEL_FILES
            | self.published()
            | self.site_files()
            | ({LOCK} & set(view) if self._dead_lock() else set())
        )
        marker = f'<meta name="snapshot-sha256" content="{sha256(snapshot)}">'.encode()
        assert marker in (self.mirror.read("index.html") or b""), f"{note}: pages behind"
        stray, missing = sorted(set(view) - want), sorted(want - set(view))
        assert not stray, f"{note}: stray objects {stray}"
        assert not missing, f"{note}: missing objects {missing}"
        for name in self.published():
            assert self._digest(view, name) == self.local[name], f"{note}: {name}"
        assert self.mirror.uploads() == [], f"{note}: multipart uploads left open"
        self.check_journal(view, note)

    def _dead_lock(self) -> bool:
        """The lock is there but held by nobody: flock's file, or (S3) the lock object of a
        run killed after its last write, which the next writer breaks at once."""
        if isinstance(self.mirror, FsMirror):
            return True
        owner = (self.mirror.read(LOCK) or b"").decode()
        pid = owner.partition(" ")[0].rpartition(":")[2]
        return pid.isdigit() and not Path(f"/proc/{pid}").exists()

    def check_journal(self, view: dict[str, str], note: str) -> None:
        for journal in self.journal.parent.glob(f"{self.journal.stem}*.sqlite"):
            with sqlite3.connect(journal) as db:
                done = db.execute("SELECT target, name, sha256 FROM steps WHERE state = 'done'")
                rows = done.fetchall()
            for target, name, digest in rows:
                assert target.startswith(self.mirror.base + "/"), f"{note}: {target}"
                where = f"{target.removeprefix(self.mirror.base + '/')}/{name}"
                assert self._digest(view, where) == digest, f"{note}: journal {where}"

    def assert_noop(self, note: str) -> None:
        """A further reconcile (in process) finds nothing to do."""
        result = reconcile(self.kit.clone, workspace=Workspace(self.work),
                           signing=SigningConfig(key_env=None))  # fmt: skip
        assert result.noop and result.ok, f"{note}: {result.to_dict()}"


def make_world(tmp_path: Path, keys: Keys, mirror: Mirror) -> World:
    kit = make_config(tmp_path, keys, target=mirror.target)
    gpgv = Gpgv(keys, tmp_path)
    return World(kit, keys, tmp_path / "work", mirror, gpgv, tmp_path / "journal.sqlite")


def run_to_end(argv: list[str], env: dict[str, str], note: str) -> dict[str, Any]:
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, f"{note}: reconcile failed:\n{done.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result
