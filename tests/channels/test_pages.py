"""The mirror's pages and catalogue as pure functions: hostile values come out escaped, links
only where a page exists, the catalogue names what the manifest says."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser

from release.channels import catalogue, pages
from release.channels.index import ChannelIndex, IndexedRelease
from release.integrity.manifest import Artifact, BuildInfo, FileRecord, Manifest

T0 = dt.datetime(2026, 11, 24, 12, 0, 0, tzinfo=dt.UTC)
HOSTILE = '<script>alert("x")</script><a href="javascript:x">'
FPR = "0123456789ABCDEF0123456789ABCDEF01234567"


def _digests(byte: str) -> dict[str, str]:
    return {"md5": "md5:" + byte * 32, "sha1": "sha1:" + byte * 40, "sha256": "sha256:" + byte * 64}


def _manifest(version: str = "7.9.1") -> Manifest:
    return Manifest(
        image="centos-7",
        version=version,
        variants=("openstack",),
        commit=HOSTILE,
        build=BuildInfo(builder=HOSTILE, time=T0),
        artifacts=(
            Artifact(
                name=f"centos-7-{version}-openstack.qcow2",
                size=3 * 1024 * 1024,
                digests=_digests("a"),
                variant="openstack",
                format="qcow2",
            ),
        ),
        files=(
            FileRecord(
                name=f"centos-7-{version}-openstack.spdx.json", size=10, digests=_digests("b")
            ),
        ),
        sboms={"openstack": f"centos-7-{version}-openstack.spdx.json"},
    )


def _index(channel: str, version: str, *older: str) -> ChannelIndex:
    def release(v: str) -> IndexedRelease:
        return IndexedRelease(
            image="centos-7", version=v, path=f"centos-7/{v}", manifest_sha256="c" * 64
        )

    return ChannelIndex(
        channel=channel,
        serial=4,
        issued=T0,
        expires=T0 + dt.timedelta(days=7),
        current=release(version),
        history=tuple(release(v) for v in older),
    )


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.hrefs.extend(v or "" for k, v in attrs if k == "href")


def _tags(page: str) -> _Tags:
    parsed = _Tags()
    parsed.feed(page)
    return parsed


def test_a_release_page_escapes_what_the_manifest_says() -> None:
    page = pages.release_page(_manifest(), [FPR])
    assert "<script" not in page and "javascript:" not in _tags(page).hrefs
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    tags = _tags(page)
    assert "script" not in tags.tags and tags.tags.count("a") == len(tags.hrefs)
    assert "3.0 MiB" in page and "a" * 64 in page  # size and sha256 of the qcow2
    assert "0123 4567 89AB CDEF" in page and f"../../keys/{FPR}.asc" in tags.hrefs
    assert "gpg --verify sha256sum.txt.asc sha256sum.txt" in page
    assert "release verify MIRROR_URL/centos-7/7.9.1/ --keys KEYS_DIR" in page
    assert '<html lang="en">' in page and 'name="viewport"' in page


def test_release_links_only_where_a_release_page_exists() -> None:
    indexes = [_index("el7-stable", "7.9.1"), _index("el7-testing", "7.9.2", "7.9.1")]
    site = pages.pages(indexes, "d" * 64, with_page={"centos-7/7.9.2"}, fingerprints=[FPR])
    assert set(site) == {"index.html", "centos-7/index.html"}
    front = _tags(site["index.html"]).hrefs
    assert "centos-7/7.9.2/index.html" in front and "centos-7/7.9.1/index.html" not in front
    assert "streams/v1/el7-stable.json" in front and "channels/el7-stable.json.asc" in front
    image = site["centos-7/index.html"]
    assert _tags(image).hrefs == ["../index.html", "7.9.2/index.html"]
    assert image.index("7.9.2") < image.index("7.9.1")  # newest first


def test_the_catalogue_lists_each_version_the_index_names_with_a_manifest() -> None:
    index = _index("el7-testing", "7.9.2", "7.9.1", "7.9.0")
    found = catalogue.products(
        index,
        "e" * 64,
        {"centos-7/7.9.2": _manifest("7.9.2"), "centos-7/7.9.1": _manifest("7.9.1")},
    )
    versions = found["products"]["centos-7:openstack"]["versions"]
    assert set(versions) == {"7.9.2", "7.9.1"}  # 7.9.0's manifest was not found
    assert versions["7.9.2"]["current"] and not versions["7.9.1"]["current"]
    item = versions["7.9.2"]["items"]["qcow2"]
    assert item == {
        "ftype": "qcow2",
        "path": "centos-7/7.9.2/centos-7-7.9.2-openstack.qcow2",
        "size": 3 * 1024 * 1024,
        "md5": "a" * 32,
        "sha1": "a" * 40,
        "sha256": "a" * 64,
    }
    assert (found["serial"], found["index_sha256"]) == (4, "e" * 64)
    assert catalogue.render(found) == catalogue.render(dict(reversed(found.items())))
