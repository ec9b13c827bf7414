"""The browsable mirror reconcile writes, read in a real browser (headless chromium)."""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
from pathlib import Path

import pytest

from release.channels import index as idx
from release.channels import site
from release.channels.reconcile import reconcile
from release.channels.resign import resign
from release.integrity.signing import open_signer
from release.pipeline import Workspace
from release.publish.indexstore import FilesystemIndexStore
from tests import browser
from tests.channels.kit import IMAGE, make_config, sealed_release
from tests.gitops import merge_feature
from tests.integrity.gpgkit import Keys, gpg


def _verified(keys: Keys, path: Path) -> bytes:
    """The file's bytes, once gpg says its detached signature is good and by the good key."""
    out = gpg(keys.home, "--status-fd", "1", "--verify", f"{path}.asc", str(path)).decode()
    assert f"VALIDSIG {keys.fpr['good']}" in out
    return path.read_bytes()


def _broken_links(mirror: Path, page: str, links: list[str]) -> list[str]:
    broken = []
    for href in links:
        assert "://" not in href and not href.startswith("/"), href  # relative links only
        target = posixpath.normpath(posixpath.join(posixpath.dirname(page), href))
        if target.startswith("..") or not (mirror / target).is_file():
            broken.append(f"{page}: {href}")
    return broken


@pytest.mark.slow
def test_the_mirror_pages_render_link_and_match_the_signed_indexes(
    keys: Keys,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kit = make_config(tmp_path, keys)
    work = Workspace(tmp_path / "work")
    for version in ("1.0.0", "1.1.0"):
        sealed_release(work, keys, version)
    assert reconcile(kit.clone, workspace=work, signing=kit.signing).ok
    merge_feature(kit.clone, "bump", [(f"images/{IMAGE}.yaml", '"1.0.0"', '"1.1.0"')])
    assert reconcile(kit.clone, workspace=work, signing=kit.signing).ok
    mirror = kit.clone / "mirror"

    pages = [
        "index.html",
        f"{IMAGE}/index.html",
        f"{IMAGE}/1.0.0/index.html",
        f"{IMAGE}/1.1.0/index.html",
    ]
    # Kept as artifacts: under pytest's temporary directory, or where RELEASE_SCREENSHOTS says.
    keep = os.environ.get("RELEASE_SCREENSHOTS")
    shots = Path(keep) if keep else tmp_path_factory.mktemp("screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    doms = {}
    for page in pages:
        png = shots / (page.replace("/", "_") + ".png")
        doms[page] = browser.parse(browser.dump_dom((mirror / page).as_uri(), png))
        assert png.stat().st_size > 5000, page  # a rendered page, not a blank one
    with capsys.disabled():  # shown in the test log even when the test passes
        print(f"\nphone-sized screenshots of the mirror pages: {shots}")
    broken = [b for page, dom in doms.items() for b in _broken_links(mirror, page, dom.links)]
    assert not broken
    for page, dom in doms.items():
        assert dom.lang == "en" and dom.headings, page
        assert dom.header_scopes and all(s in ("col", "row") for s in dom.header_scopes), page

    # The front page says what the signed indexes say, a row per channel.
    rows = {row[0]: row for row in doms["index.html"].rows[1:]}
    assert set(rows) == {"fx-stable", "fx-testing"}
    for channel, row in rows.items():
        signed = idx.parse_index(_verified(keys, mirror / "channels" / f"{channel}.json"))
        issued, expires = idx.rfc3339(signed.issued), idx.rfc3339(signed.expires)
        expected = [channel, IMAGE, signed.current.version, str(signed.serial), issued, expires]
        assert row[:6] == expected
    assert rows["fx-testing"][2] == "1.1.0" and rows["fx-stable"][2] == "1.0.0"

    # The image page: both versions, newest first, and where each is current.
    versions = [row[:2] for row in doms[f"{IMAGE}/index.html"].rows[1:]]
    assert versions == [["1.1.0", "fx-testing"], ["1.0.0", "fx-stable"]]

    # The release page: every file with the size and sha256 of the file on the mirror.
    release = mirror / IMAGE / "1.1.0"
    files = {row[0]: row for row in doms[f"{IMAGE}/1.1.0/index.html"].rows if len(row) == 5}
    artifact = f"{IMAGE}-1.1.0-openstack.qcow2"
    assert {artifact, f"{IMAGE}-1.1.0-openstack.packages"} <= set(files)
    for name, row in files.items():
        if name == "File":
            continue
        data = (release / name).read_bytes()
        assert row[4] == hashlib.sha256(data).hexdigest(), name
        assert row[3].split()[0] in (str(len(data)), f"{len(data) / 1024:.1f}"), name
    text = " ".join(" ".join(r) for r in doms[f"{IMAGE}/1.1.0/index.html"].rows)
    assert "sha256sum.txt.asc" in text and "manifest.json.asc" in text

    # The catalogue: signed, and every item is a file of that size and digest on the mirror.
    catalogue = json.loads(_verified(keys, mirror / "streams/v1/fx-testing.json"))
    testing = catalogue["products"][f"{IMAGE}:openstack"]["versions"]
    assert set(testing) == {"1.0.0", "1.1.0"} and testing["1.1.0"]["current"]
    index_bytes = (mirror / "channels/fx-testing.json").read_bytes()
    assert catalogue["index_sha256"] == hashlib.sha256(index_bytes).hexdigest()
    item = testing["1.1.0"]["items"]["qcow2"]
    data = (mirror / item["path"]).read_bytes()
    assert (item["size"], item["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())


def test_a_release_page_is_create_only_and_a_noop_rerun_writes_no_page(
    keys: Keys, tmp_path: Path
) -> None:
    kit = make_config(tmp_path, keys)
    work = Workspace(tmp_path / "work")
    sealed_release(work, keys, "1.0.0")
    sealed_release(work, keys, "1.1.0")
    reconcile(kit.clone, workspace=work, signing=kit.signing)
    mirror = kit.clone / "mirror"
    page = mirror / IMAGE / "1.0.0" / "index.html"
    assert "1.1.0" not in (mirror / "index.html").read_text()
    page.write_text("kept")  # a release page, once written, is never rewritten

    merge_feature(kit.clone, "bump", [(f"images/{IMAGE}.yaml", '"1.0.0"', '"1.1.0"')])
    assert reconcile(kit.clone, workspace=work, signing=kit.signing).ok
    assert page.read_text() == "kept"
    assert (mirror / IMAGE / "1.1.0" / "index.html").is_file()
    assert "1.1.0" in (mirror / "index.html").read_text()

    written = {p: p.stat().st_mtime_ns for p in mirror.rglob("*.html")}
    assert reconcile(kit.clone, workspace=work, signing=kit.signing).noop
    assert {p: p.stat().st_mtime_ns for p in mirror.rglob("*.html")} == written


def test_pages_show_only_what_the_snapshot_and_the_indexes_vouch_for(
    keys: Keys, tmp_path: Path
) -> None:
    """Mirror content is untrusted: a manifest that is not the one the index names gets no page
    and no link; an index that is not the one the snapshot lists is left off the front page."""
    kit = make_config(tmp_path, keys)
    work = Workspace(tmp_path / "work")
    sealed_release(work, keys, "1.0.0")
    reconcile(kit.clone, workspace=work, signing=kit.signing)
    mirror = kit.clone / "mirror"
    release = mirror / IMAGE / "1.0.0"
    (release / "index.html").unlink()
    manifest = release / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"test"', b'"<script>x</script>"'))
    testing = mirror / "channels" / "fx-testing.json"
    testing.write_bytes(testing.read_bytes().replace(b'"serial":1', b'"serial":9'))

    store = FilesystemIndexStore(mirror)
    with open_signer(kit.signing) as signer, store.lock():
        snapshot = (mirror / idx.SNAPSHOT_PATH).read_bytes()
        done = site.refresh(store, snapshot, signer)
    assert not (release / "index.html").exists()
    assert any("not the manifest the index names" in s for s in done.skipped)
    assert any(s.startswith("fx-testing: ") for s in done.skipped)
    front = (mirror / "index.html").read_text()
    assert "fx-stable" in front and "fx-testing" not in front
    assert f"{IMAGE}/1.0.0/index.html" not in front and "<script" not in front


def test_pages_left_behind_by_a_stopped_run_are_redone_by_the_next(
    keys: Keys, tmp_path: Path
) -> None:
    kit = make_config(tmp_path, keys)
    work = Workspace(tmp_path / "work")
    sealed_release(work, keys, "1.0.0")
    reconcile(kit.clone, workspace=work, signing=kit.signing)
    mirror = kit.clone / "mirror"
    front = (mirror / "index.html").read_bytes()
    # As a run killed after the snapshot leaves it: the snapshot is newer than the pages.
    (mirror / "index.html").unlink()
    (mirror / "streams/v1/fx-stable.json").unlink()
    again = reconcile(kit.clone, workspace=work, signing=kit.signing)
    assert again.ok and again.noop  # no index moved
    assert again.warnings == ["mirror: the pages were behind the snapshot: redone"]
    assert (mirror / "index.html").read_bytes() == front
    assert (mirror / "streams/v1/fx-stable.json").is_file()
    assert reconcile(kit.clone, workspace=work, signing=kit.signing).warnings == []


def test_resign_brings_the_pages_to_the_new_expiry(keys: Keys, tmp_path: Path) -> None:
    kit = make_config(tmp_path, keys)
    work = Workspace(tmp_path / "work")
    sealed_release(work, keys, "1.0.0")
    reconcile(kit.clone, workspace=work, signing=kit.signing)
    mirror = kit.clone / "mirror"
    done = resign(kit.clone, signing=kit.signing, within=10**9)
    assert {r.status for r in done.indexes} == {"resigned"}
    front = (mirror / "index.html").read_text()
    for channel in ("fx-stable", "fx-testing"):
        index = idx.parse_index((mirror / "channels" / f"{channel}.json").read_bytes())
        assert index.serial == 2 and idx.rfc3339(index.expires) in front
    catalogue = json.loads((mirror / "streams/v1/fx-stable.json").read_bytes())
    assert catalogue["serial"] == 2
