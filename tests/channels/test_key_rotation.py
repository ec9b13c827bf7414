"""The key rotation drill of docs/key-rotation.md, end to end: a config repo, a mirror, and a
client that keeps its serials (one SerialStore for the whole drill) and updates its keys/ from
the config repo after each step, as the procedure tells clients to.

1. add a new key: old and new both allowed;
2. re-sign the indexes with the new key (`release resign`), release with it;
3. retire the old key with `not_after`;
4. the old key leaks: revoke it; what it signs is refused even inside its window, the client
   keeps the serials it saw, and the publisher repairs the mirror with the new key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import pytest

from release.channels import index as idx
from release.channels.reconcile import reconcile
from release.channels.resign import resign
from release.channels.serials import SerialStore
from release.channels.verify import ChannelVerifyResult, verify_channel
from release.config.check import check
from release.integrity.keyinfo import read_key_bytes
from release.integrity.keys import check_keys
from release.integrity.keysource import load_key_source
from release.integrity.signing import SigningConfig
from release.pipeline import Workspace
from tests.channels.kit import IMAGE, make_config, sealed_release
from tests.conftest import git
from tests.gitops import edit
from tests.integrity.gpgkit import Keys

CHANNELS = ("fx-stable", "fx-testing")
OLD, NEW = "good", "stranger"  # two RSA keys of the test keyring: old and its successor


@dataclasses.dataclass
class Client:
    """A downstream client: its copy of keys/, its serials, one mirror."""

    mirror: Path
    keys: Path
    serials: SerialStore

    def update_keys(self, repo: Path) -> None:
        shutil.rmtree(self.keys, ignore_errors=True)
        shutil.copytree(repo / "keys", self.keys)

    def verify(self, channel: str, serials: SerialStore | None = None) -> ChannelVerifyResult:
        source = load_key_source(self.keys)
        return verify_channel(str(self.mirror), channel, source, serials=serials or self.serials)


def trust_yaml(keys: Keys, not_after: str = "", revoked: str = "") -> str:
    """keys/trust.yaml with the old key (its window and revocation as given), the new key and
    the el6 key the kit ships."""
    entries = {
        "old": (OLD, ["fx-*"], not_after, revoked),
        "new": (NEW, ["fx-*"], "", ""),
        "el6": ("el6", ["el6-*"], "", ""),
    }
    lines = ["keys:"]
    for name, (key, channels, until, revocation) in entries.items():
        lines += [f"  {name}:", f"    file: {key}.asc", f"    fingerprint: {keys.fpr[key]}",
                  f"    channels: {channels}"]  # fmt: skip
        lines += [f"    not_after: {until}"] if until else []
        lines += [f"    revoked: {revocation}"] if revocation else []
    return "\n".join(lines) + "\n"


def commit_keys(repo: Path, keys: Keys, message: str, **window: str) -> None:
    (repo / "keys" / f"{NEW}.asc").write_bytes(keys.public[NEW])
    (repo / "keys" / "trust.yaml").write_text(trust_yaml(keys, **window))
    git(repo, "add", "-A", "keys")
    git(repo, "commit", "-qm", message)
    report = check(str(repo), keys=read_key_bytes)  # `release check`
    assert report.ok, report.problems


def signing(keys: Keys, name: str) -> SigningConfig:
    return SigningConfig(gnupghome=keys.home, fingerprint=keys.fpr[name], key_env=None)


def all_ok(client: Client, signer: str, keys: Keys) -> dict[str, int]:
    """Verify every channel; each index signed by `signer`. The serials seen."""
    seen = {}
    for channel in CHANNELS:
        result = client.verify(channel)
        assert result.ok, (channel, result.failures())
        assert result.index is not None and result.index.index is not None
        assert result.index.signer == keys.fpr[signer], channel
        seen[channel] = result.index.index.serial
    return seen


def forge(mirror: Path, keys: Keys, signer: str, serial: int, version: str | None) -> None:
    """What a thief holding `signer` and the mirror does: fx-stable pointed at `version` (None:
    the release it names now) with a serial far ahead, and a snapshot listing it, both signed
    with the stolen key."""
    channels = mirror / "channels"
    index = idx.parse_index((channels / "fx-stable.json").read_bytes())
    history = (index.current, *index.history)
    older = next(r for r in history if version is None or r.version == version)
    now = dt.datetime.now(dt.UTC)
    forged = idx.next_index(index, older, now, 86400).model_copy(update={"serial": serial})
    data = idx.canonical(forged)
    snapshot = idx.Snapshot.model_validate_json((channels / "snapshot.json").read_bytes())
    snapshot = idx.next_snapshot(snapshot, {"fx-stable": data}, now, 86400)
    snap = idx.canonical(snapshot.model_copy(update={"serial": serial}))
    for name, body in (("fx-stable.json", data), ("snapshot.json", snap)):
        (channels / name).write_bytes(body)
        (channels / f"{name}.asc").write_bytes(keys.sign(signer, body))


@pytest.mark.slow
def test_key_rotation_drill(keys: Keys, tmp_path: Path) -> None:
    kit = make_config(tmp_path, keys)
    repo, mirror = kit.clone, kit.clone / "mirror"
    work = Workspace(tmp_path / "work")
    sealed_release(work, keys, "1.0.0", signer=OLD)
    reconcile(repo, workspace=work, signing=signing(keys, OLD))
    client = Client(mirror, tmp_path / "client-keys", SerialStore(tmp_path / "serials.json"))
    client.update_keys(repo)
    assert all_ok(client, OLD, keys) == {"fx-stable": 1, "fx-testing": 1}

    # 1. Add the new key next to the old one: both may sign; nothing changes for clients.
    commit_keys(repo, keys, "keys: add the new release key")
    client.update_keys(repo)
    assert all_ok(client, OLD, keys) == {"fx-stable": 1, "fx-testing": 1}

    # 2. Sign with the new key from now on: re-sign every index, then release with it.
    resigned = resign(repo, signing=signing(keys, NEW), within=10**9)
    assert sorted((r.channel, r.status, r.serial) for r in resigned.indexes) == [
        ("fx-stable", "resigned", 2), ("fx-testing", "resigned", 2)
    ]  # fmt: skip
    assert all_ok(client, NEW, keys) == {"fx-stable": 2, "fx-testing": 2}  # release: old key
    saved = tmp_path / "serial-2"  # the new key's own index, for a replay later
    shutil.copytree(mirror / "channels", saved)
    sealed_release(work, keys, "1.1.0", signer=NEW)
    edit(repo, f"images/{IMAGE}.yaml", '"1.0.0"', '"1.1.0"')
    edit(repo, "channels/fx-stable.yaml", '"1.0.0"', '"1.1.0"')
    git(repo, "commit", "-qam", "1.1.0, signed by the new key, in every channel")
    reconcile(repo, workspace=work, signing=signing(keys, NEW))
    assert all_ok(client, NEW, keys) == {"fx-stable": 3, "fx-testing": 3}

    # 3. Retire the old key: its window ends in 30 days; until then it is still trusted.
    until = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)).isoformat()
    commit_keys(repo, keys, "keys: retire the old key", not_after=until)
    client.update_keys(repo)
    assert all_ok(client, NEW, keys) == {"fx-stable": 3, "fx-testing": 3}
    assert check_keys(load_key_source(repo / "keys")) == ([], [])

    # 4. The old key leaks inside its window: the thief signs an index far ahead. The
    # publisher revokes the key; the client takes the new keys/ and refuses what it signed.
    forge(mirror, keys, OLD, serial=99, version="1.0.0")
    commit_keys(repo, keys, "keys: revoke the old key", not_after=until,
                revoked="{date: 2026-12-02, reason: key leaked}")  # fmt: skip
    client.update_keys(repo)
    remembered = client.serials.path.read_bytes()
    refused = client.verify("fx-stable")
    assert not refused.ok and refused.index is not None
    assert refused.index.status == "bad-signature"
    assert client.serials.path.read_bytes() == remembered, "the client keeps what it saw"
    fresh = client.verify("fx-stable", SerialStore(tmp_path / "fresh.json"))
    assert not fresh.ok, "a client that never saw the mirror refuses the stolen key too"
    problems, warnings = check_keys(load_key_source(repo / "keys"))
    assert problems == [] and warnings[0].startswith("old: revoked in trust.yaml on 2026-12-02")

    # The publisher repairs the mirror with the new key: reconcile writes above the forgery.
    repaired = reconcile(repo, workspace=work, signing=signing(keys, NEW))
    assert repaired.ok
    assert all_ok(client, NEW, keys) == {"fx-stable": 100, "fx-testing": 3}

    # Clients keep the serials they saw: the new key's own older index is a replay now.
    for name in ("fx-stable.json", "fx-stable.json.asc"):
        shutil.copy(saved / name, mirror / "channels" / name)
    replayed = client.verify("fx-stable")
    assert replayed.index is not None and replayed.index.status == "replayed"


def test_after_a_revocation_resign_never_signs_the_thiefs_index_and_reconcile_repairs(
    keys: Keys, tmp_path: Path
) -> None:
    """The forged index names the very release git wants, so only its signature is wrong:
    resign must leave it (re-signing would put the new key on the thief's document) and
    reconcile must not count it as in place."""
    kit = make_config(tmp_path, keys)
    repo, mirror = kit.clone, kit.clone / "mirror"
    commit_keys(repo, keys, "keys: add the new release key")
    work = Workspace(tmp_path / "work")
    sealed_release(work, keys, "1.0.0", signer=NEW)
    reconcile(repo, workspace=work, signing=signing(keys, OLD))  # indexes by the old key
    forge(mirror, keys, OLD, serial=99, version=None)
    commit_keys(repo, keys, "keys: revoke the old key",
                revoked="{date: 2026-12-02, reason: key leaked}")  # fmt: skip
    client = Client(mirror, tmp_path / "client-keys", SerialStore(tmp_path / "serials.json"))
    client.update_keys(repo)
    assert not client.verify("fx-stable").ok
    before = {p.name: p.read_bytes() for p in (mirror / "channels").iterdir()}

    resigned = resign(repo, signing=signing(keys, NEW), within=10**9)
    assert sorted((r.channel, r.status) for r in resigned.indexes) == [
        ("fx-stable", "untrusted"), ("fx-testing", "untrusted")
    ]  # fmt: skip
    assert {p.name: p.read_bytes() for p in (mirror / "channels").iterdir()} == before

    repaired = reconcile(repo, workspace=work, signing=signing(keys, NEW))
    assert repaired.ok and not repaired.noop
    assert all_ok(client, NEW, keys) == {"fx-stable": 100, "fx-testing": 2}
